"""GET /policy: the privacy notice's access-log section, for a site to link or embed.

Public and cacheable: it names no person, only the settings this server runs with and the
recipients in the provision ledger. The ledger is read off the event loop at most once per
`LEDGER_SECONDS`, and each language and format is rendered once per read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from ashiato.beacon.language import preferred_language
from ashiato.collector.appkeys import CONFIG, METRICS, STORE
from ashiato.collector.config import Config
from ashiato.collector.notice import FORMATS, LANGUAGES, render_notice
from ashiato.retention.provisions import ThirdParty, third_parties
from ashiato.storage.backend import Store, connection
from ashiato.storage.errors import StorageError

__all__ = ["PolicyPages", "add_routes"]

log = logging.getLogger(__name__)

# Browsers and proxies may keep a copy this long; the server re-reads the ledger more often.
MAX_AGE_SECONDS = 300
LEDGER_SECONDS = 60.0
DEFAULT_LANG = "en"
DEFAULT_FORMAT = "html"
_CONTENT_TYPES = {"html": "text/html", "md": "text/markdown"}


@dataclass(frozen=True, slots=True)
class Page:
    """One rendered notice and its validator."""

    body: bytes
    etag: str
    parties: Sequence[ThirdParty]  # the ledger read it was rendered from


class PolicyPages:
    """Rendered notices per (language, format), over a short-lived read of the ledger."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        ledger_seconds: float = LEDGER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._store = store
        self._ttl = ledger_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._parties: tuple[ThirdParty, ...] | None = None
        self._read_at = 0.0
        self._pages: dict[tuple[str, str], Page] = {}

    async def page(self, lang: str, fmt: str) -> Page:
        """The notice in `lang` as `fmt`; StorageError if the ledger was never readable."""
        parties = await self._ledger()
        cached = self._pages.get((lang, fmt))
        if cached is not None and cached.parties is parties:
            return cached
        body = render_notice(self._config, parties, lang, fmt).encode()
        page = Page(body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"', parties)
        self._pages[(lang, fmt)] = page
        return page

    async def _ledger(self) -> tuple[ThirdParty, ...]:
        async with self._lock:  # one read at a time, shared by every request waiting on it
            if self._parties is not None and self._clock() - self._read_at < self._ttl:
                return self._parties
            try:
                parties = tuple(await asyncio.to_thread(self._read))
            except StorageError as exc:
                if self._parties is None:
                    raise
                # Nothing can be added to the ledger while storage is away, so the last read
                # is still what it holds; try again after another interval.
                log.warning("provision ledger not readable, serving the last read: %s", exc)
                self._read_at = self._clock()
                return self._parties
            self._parties, self._read_at = parties, self._clock()
            return parties

    def _read(self) -> list[ThirdParty]:
        with connection(self._store) as backend:
            return third_parties(backend)


POLICY_PAGES: web.AppKey[PolicyPages] = web.AppKey("policy_pages")


def _refuse(request: web.Request, message: str) -> web.HTTPBadRequest:
    request.app[METRICS].rejected.labels("bad_query").inc()
    return web.HTTPBadRequest(text=message + "\n")


async def policy(request: web.Request) -> web.Response:
    """GET /policy[?lang=ja|en][&format=html|md]: the notice, language from Accept-Language."""
    fmt = request.query.get("format", DEFAULT_FORMAT)
    if fmt not in FORMATS:
        raise _refuse(request, f"format must be {' or '.join(FORMATS)}, got {fmt[:32]!r}")
    lang = request.query.get("lang")
    if lang is None:
        offered = LANGUAGES.keys()
        lang = preferred_language(request.headers.get("Accept-Language"), offered)
        lang = lang or DEFAULT_LANG
    elif lang not in LANGUAGES:
        raise _refuse(request, f"lang must be {' or '.join(LANGUAGES)}, got {lang[:32]!r}")
    try:
        page = await request.app[POLICY_PAGES].page(lang, fmt)
    except StorageError:
        raise web.HTTPServiceUnavailable(
            text="the provision ledger cannot be read yet; retry later\n",
            headers={"Retry-After": "30"},
        ) from None
    headers = {
        "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}",
        "ETag": page.etag,
        "Vary": "Accept-Language",
        "Content-Language": lang,
    }
    if page.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=page.body,
        headers=headers,
        content_type=_CONTENT_TYPES[fmt],
        charset="utf-8",
    )


def add_routes(app: web.Application) -> None:
    """Serve the notice at /policy, from the app's configuration and store."""
    app[POLICY_PAGES] = PolicyPages(app[CONFIG], app[STORE])
    app.router.add_get("/policy", policy)
