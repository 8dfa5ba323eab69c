"""An edge passes what needs storage on to the loader: the admin API, readiness, opt-outs,
the privacy notice, and asks it for the suppressions in force.

The loader listens on a loopback port of its own and writes it to `DATA_DIR/loader.json`
when it is ready; an edge reads that file when it first needs it, and again when the loader
stops answering (a restarted loader has a new port). Requests and answers pass through
unchanged, so the admin API behaves the same whichever process a client reaches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from ashiato.collector.appkeys import CONFIG, SUPPRESSED
from ashiato.collector.background import Suppressed
from ashiato.retention.suppress import Suppression, SuppressionList

log = logging.getLogger(__name__)

LOADER_FILE = "loader.json"
SUPPRESSIONS_PATH = "/internal/suppressions"
SUPPRESSIONS_SECONDS = 30.0
# Headers a request carries to the loader, and an answer back; the rest is per connection.
_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "Accept-Language",
    "If-None-Match",
)
_ANSWER_HEADERS = (
    "Content-Type",
    "Retry-After",
    "Cache-Control",
    "Content-Disposition",
    "Content-Language",
    "ETag",
    "Vary",
)


class LoaderLink:
    """The edge's client of its loader: one connection pool, the address read on demand."""

    def __init__(self, data_dir: Path) -> None:
        self._file = data_dir / LOADER_FILE
        self._url: str | None = None
        self.pending: set[asyncio.Task[None]] = set()
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=5), auto_decompress=False
        )

    def url(self, fresh: bool = False) -> str | None:
        """The loader's base URL, as it last announced it; None while it has not."""
        if fresh or self._url is None:
            try:
                self._url = str(json.loads(self._file.read_text())["url"])
            except (OSError, ValueError, KeyError):
                self._url = None
        return self._url

    async def suppressions(self) -> SuppressionList:
        """The suppressions in force, as the loader holds them."""
        base = self.url(fresh=True)
        if base is None:
            raise OSError("the loader has not announced its address yet")
        async with self.session.get(base + SUPPRESSIONS_PATH) as answer:
            answer.raise_for_status()
            entries = orjson.loads(await answer.read())
        return SuppressionList(Suppression(*entry) for entry in entries)

    def reload_soon(self, suppressed: Suppressed) -> None:
        """Load the suppressions again now, without holding up the answer."""
        task = asyncio.create_task(self._reload(suppressed))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _reload(self, suppressed: Suppressed) -> None:
        try:
            await suppressed.reload()
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            log.warning("suppressions not reloaded from the loader: %s", exc)


LINK: web.AppKey[LoaderLink] = web.AppKey("loader_link")


def announce_loader(data_dir: Path, url: str) -> None:
    """Tell the edges where this loader answers (written whole, then renamed into place)."""
    tmp = data_dir / (LOADER_FILE + ".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    tmp.replace(data_dir / LOADER_FILE)


async def to_loader(request: web.Request) -> web.StreamResponse:
    """Pass the request to the loader and its answer back; 503 while no loader answers."""
    link = request.app[LINK]
    body = await request.read()
    headers = {name: request.headers[name] for name in _REQUEST_HEADERS if name in request.headers}
    for fresh in (False, True):
        base = link.url(fresh)
        if base is None:
            continue
        try:
            async with link.session.request(
                request.method, base + request.path_qs, data=body, headers=headers
            ) as answer:
                payload = await answer.read()
                kept = {k: answer.headers[k] for k in _ANSWER_HEADERS if k in answer.headers}
                status = answer.status
        except aiohttp.ClientConnectionError:
            continue
        if request.method == "POST" and status < 400:
            # It may have suppressed someone: this edge applies it from its next hit on.
            link.reload_soon(request.app[SUPPRESSED])
        return web.Response(status=status, body=payload, headers=kept)
    return web.Response(
        status=503,
        text="the loader is not answering yet; retry shortly\n",
        headers={"Retry-After": "1"},
    )


async def _link_ctx(app: web.Application) -> AsyncIterator[None]:
    """The link to the loader, and the suppressions in force as the loader last told them."""
    link = LoaderLink(app[CONFIG].data_dir)
    app[LINK] = link
    app[SUPPRESSED] = suppressed = Suppressed(link.suppressions)

    async def refresh() -> None:
        while True:
            try:
                await suppressed.reload()
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                # Not up yet, or restarting: retry soon rather than in 30 s.
                log.debug("suppressions not loaded from the loader: %s", exc)
                await asyncio.sleep(1)
                continue
            await asyncio.sleep(SUPPRESSIONS_SECONDS)

    task = asyncio.create_task(refresh())
    yield
    task.cancel()
    await asyncio.gather(task, *link.pending, return_exceptions=True)
    await link.session.close()


async def suppressions(request: web.Request) -> web.Response:
    """GET /internal/suppressions (the loader's own port only): the list edges apply."""
    entries = [
        [e.subject_type, e.subject, e.purpose, e.since_ms, e.via]
        for e in request.app[SUPPRESSED].current
    ]
    return web.Response(body=orjson.dumps(entries), content_type="application/json")


def add_loader_routes(app: web.Application) -> None:
    """What a loader answers its edges beyond the admin API."""
    app.router.add_get(SUPPRESSIONS_PATH, suppressions)


def add_routes(app: web.Application) -> None:
    """Route the admin API and readiness of an edge to its loader."""
    app.cleanup_ctx.append(_link_ctx)
    app.router.add_get("/readyz", to_loader)
    app.router.add_get("/policy", to_loader)  # the notice names recipients from storage
    app.router.add_route("*", "/admin/{tail:.*}", to_loader)
