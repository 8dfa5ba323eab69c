"""ashiato: an access-log and tracking telemetry collector that keeps a privacy policy's promises.

The distribution installs one top-level package, `ashiato`, with four parts beneath it:
`ashiato.beacon` (pure event logic), `ashiato.storage` (ClickHouse), `ashiato.retention` (the
privacy lifecycle) and `ashiato.collector` (HTTP, configuration and the command line).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("ashiato")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
