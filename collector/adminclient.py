"""Client side of the admin API, for commands that find the embedded store held by `serve`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from ashiato.collector.auth import TokenStore
from ashiato.collector.config import Config

SERVER_FILE = "server.json"
# Long enough for an erasure that waits for its rows to leave the disk (120 s by default).
ADMIN_TIMEOUT = 300.0


class CommandError(Exception):
    """A command failed in a way the user can act on; printed without a traceback."""


def server_url(config: Config) -> str:
    """The admin address the running server announced in the data directory."""
    try:
        return str(json.loads((config.data_dir / SERVER_FILE).read_text())["url"])
    except (OSError, ValueError, KeyError):
        raise CommandError(
            f"the embedded store in {config.data_dir} is in use, but no running server "
            "announced its address"
        ) from None


def admin_token(config: Config, env: Mapping[str, str]) -> str:
    token = env.get("ASHIATO_ADMIN_TOKEN", "").strip()
    if token:
        return token
    path = TokenStore(config.data_dir).bootstrap_path
    try:
        return path.read_text().strip()
    except OSError:
        raise CommandError(
            f"no admin token: set ASHIATO_ADMIN_TOKEN or make {path} readable"
        ) from None


def call_admin_api(
    config: Config, env: Mapping[str, str], path: str, body: Mapping[str, Any]
) -> Any:
    """POST to the running server's admin API (embedded mode, where it holds the store)."""
    url = server_url(config)
    request = urllib.request.Request(  # noqa: S310 - the URL is our own server's
        url + path,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {admin_token(config, env)}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise CommandError(f"server refused ({exc.code}): {message}") from None
    except urllib.error.URLError as exc:
        raise CommandError(f"cannot reach the server at {url}: {exc.reason}") from None
    except TimeoutError:
        raise CommandError(
            f"the server at {url} did not answer within {ADMIN_TIMEOUT:.0f} s; "
            "the request may still finish there (see `ashiato audit`)"
        ) from None
    except OSError as exc:
        raise CommandError(f"lost the connection to the server at {url}: {exc}") from None
