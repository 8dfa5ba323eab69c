"""GET /t.js: the tracker script, minified at build time, gzipped when the browser accepts it.

`static/t.js` is the source; `static/t.min.js` is what browsers get, made from it by
`make tracker` (rjsmin) and checked by a test to be current. Both encodings and the ETag are
computed once, when the app starts, not per request.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

__all__ = ["TrackerScript", "load_tracker", "snippet", "tracker_handler"]

SOURCE = "static/t.js"
MINIFIED = "static/t.min.js"


def snippet(base_url: str, site: str) -> str:
    """The two lines a page embeds: a queue for calls made before the script loads, and it."""
    return (
        "<script>window.ashiato = window.ashiato || function () "
        "{ (ashiato.q = ashiato.q || []).push(arguments) };</script>\n"
        f'<script async src="{base_url}/t.js" data-site="{site}"></script>'
    )


@dataclass(frozen=True, slots=True)
class TrackerScript:
    """The script as served: plain and gzipped bytes, and their ETag."""

    plain: bytes
    gzipped: bytes
    etag: str


def load_tracker() -> TrackerScript:
    """Read the minified script from the package and compress it once."""
    plain = resources.files("ashiato.collector").joinpath(MINIFIED).read_bytes()
    etag = '"' + hashlib.sha256(plain).hexdigest()[:16] + '"'
    return TrackerScript(plain, gzip.compress(plain, compresslevel=9, mtime=0), etag)


def tracker_handler(
    script: TrackerScript,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler for GET /t.js, serving `script`."""
    headers = {
        "Content-Type": "application/javascript; charset=utf-8",
        "Cache-Control": "public, max-age=3600",
        "ETag": script.etag,
        "Vary": "Accept-Encoding",
    }

    async def tracker(request: web.Request) -> web.StreamResponse:
        if script.etag in request.headers.get("If-None-Match", ""):
            return web.Response(
                status=304, headers={"ETag": script.etag, "Vary": "Accept-Encoding"}
            )
        if "gzip" in request.headers.get("Accept-Encoding", "").lower():
            return web.Response(
                body=script.gzipped, headers={**headers, "Content-Encoding": "gzip"}
            )
        return web.Response(body=script.plain, headers=headers)

    return tracker
