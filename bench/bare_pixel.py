"""The yardstick: a bare aiohttp handler answering the 43-byte GIF on ashiato's event loop.

python -m bench.bare_pixel PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

from ashiato.beacon.gif import TRANSPARENT_GIF
from ashiato.collector.serving import _event_loop

_HEADERS = {"Content-Type": "image/gif", "Cache-Control": "no-store, max-age=0"}


async def pixel(request: web.Request) -> web.Response:
    """The same answer ashiato's pixel gives, with no work behind it."""
    return web.Response(body=TRANSPARENT_GIF, headers=_HEADERS)


async def healthz(request: web.Request) -> web.Response:
    """For the bench to see that the server is up."""
    return web.Response(text="ok\n")


def main(argv: list[str]) -> None:
    """Serve on 127.0.0.1:PORT until interrupted."""
    app = web.Application()
    app.router.add_get("/b.gif", pixel)
    app.router.add_get("/healthz", healthz)
    web.run_app(
        app, host="127.0.0.1", port=int(argv[0]), access_log=None, print=None, loop=_event_loop()
    )


if __name__ == "__main__":
    main(sys.argv[1:])
