"""Full URLs for access-log requests, so they are stored as the beacon stores page URLs.

A log line holds the request target (`/a?x=1`); a beacon hit holds the page's full URL
(`https://shop.example/a?x=1`). The host and scheme come from the operator (`ingest-log --host`,
`syslog_base_url`) when given, because behind a proxy the logged ones are often internal names;
otherwise from the line (`$host` or `$http_host`, and `$scheme` or `$https`). What is not known
is not made up:

- scheme and host known: `https://shop.example/a?x=1`;
- host known, scheme not: `//shop.example/a?x=1` (a network-path reference, RFC 3986 4.2);
- host not known: `/a?x=1`, the target as logged.

Only targets in origin form (`/…`) are joined. Absolute-form targets (`http://…`, sent to a
proxy) are full URLs already, and the others (`*`, CONNECT's `host:port`, a line that was not
HTTP) are kept as they are. A logged host that is not a host name or an address (optionally
with a port) is not used, since the Host header is whatever the client sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from ashiato.beacon.accesslog import LogRecord
from ashiato.beacon.errors import BeaconError

__all__ = ["NO_BASE", "BaseUrl", "BaseUrlError", "parse_base_url", "request_url"]


class BaseUrlError(BeaconError):
    """The operator's base URL cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class BaseUrl:
    """The scheme and host a log's requests were made to; "" where not known."""

    scheme: str  # "http", "https" or ""
    host: str  # lower case, with the port if one was given; or ""


NO_BASE: Final = BaseUrl("", "")

_SCHEMES: Final = ("http", "https")
_DEFAULT_PORTS: Final = {"http": ":80", "https": ":443"}
# A DNS name (underscores are seen in the wild), or an IP literal in brackets; then a port.
_HOST: Final = re.compile(
    r"(?:(?:[a-z0-9_-]+\.)*[a-z0-9_-]+\.?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?", re.ASCII
)
_MAX_HOST: Final = 260  # 253 for the name, then a port


def parse_base_url(text: str) -> BaseUrl:
    """Read an operator's base URL: `https://shop.example`, or `shop.example` (scheme unknown).

    "" means none. Raises BaseUrlError for anything else: another scheme, user info, a path,
    a query or a fragment (a log's request target is already the whole path).
    """
    text = text.strip()
    if not text:
        return NO_BASE
    full = text if "://" in text or text.startswith("//") else f"//{text}"
    try:
        parts = urlsplit(full)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise BaseUrlError(f"not a URL: {text!r} ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme and scheme not in _SCHEMES:
        raise BaseUrlError(f"the scheme must be http or https: {text!r}")
    if "@" in parts.netloc:
        raise BaseUrlError(f"no user or password in the base URL: {text!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BaseUrlError(
            f"only a scheme and a host, like https://shop.example: {text!r} has more; the "
            "request paths in the log are whole already"
        )
    host = _host(parts.netloc)
    if not host:
        raise BaseUrlError(f"not a host name: {parts.netloc!r}")
    return BaseUrl(scheme, host)


def request_url(record: LogRecord, base: BaseUrl = NO_BASE) -> str:
    """The URL to store for the request of `record`; `base` is the operator's and wins."""
    path = record.path
    if not path.startswith("/"):
        return path
    scheme = base.scheme or _scheme(record.extra)
    host = base.host or _host(record.host)
    if not host:
        return path
    if not scheme:
        return f"//{host}{path}"
    # Browsers leave the default port out of a page's URL; so does the stored URL.
    return f"{scheme}://{host.removesuffix(_DEFAULT_PORTS[scheme])}{path}"


def _scheme(variables: Mapping[str, str]) -> str:
    """The scheme a line records: `$scheme`, else `$https` ("on" or empty); "" if neither.

    `variables` are the line's `$variables` that have no field of their own (`extra`).
    """
    scheme = variables.get("scheme", "").lower()
    if scheme in _SCHEMES:
        return scheme
    if "https" in variables:
        return "https" if variables["https"].lower() == "on" else "http"
    return ""


def _host(value: str) -> str:
    """`value` in lower case if it is a host name or address, with an optional port; or ""."""
    host = value.lower()
    if len(host) > _MAX_HOST or not _HOST.fullmatch(host):
        return ""
    return host
