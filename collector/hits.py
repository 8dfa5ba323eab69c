"""What every collection endpoint shares: reading a hit from a request, recording it,
cookies and limits. Handlers stay thin: read the request, call these, answer."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from ashiato.beacon.consent import ConsentDecision, retention_class, unknown_purposes
from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.gif import TRANSPARENT_GIF
from ashiato.beacon.pipeline import Hit, checked_hit, visitor_pseudonym
from ashiato.beacon.raw import encode_raw, raw_values
from ashiato.collector.appkeys import (
    BATCHER,
    CONFIG,
    ENRICHER,
    METRICS,
    RDNS,
    SECRETS,
    SUPPRESSED,
)

MAX_BEACON_BYTES = 64 * 1024
CONSENT_COOKIE = "ashiato_consent"
VISITOR_COOKIE = "ashiato_vid"
# Routes that answer the GIF whatever happens, so no page or e-mail shows a broken image.
GIF_ROUTES = frozenset({"pixel", "email_open"})
_GIF_HEADERS = {
    "Content-Type": "image/gif",
    "Cache-Control": "no-store, max-age=0",
}
# The visitor cookies this collector sets are URL-safe base64; any other value (control
# characters, undecodable bytes, a huge value) is treated as no cookie, and replaced.
_VISITOR_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def now_ms() -> int:
    return int(time.time() * 1000)


def gif() -> web.Response:
    return web.Response(body=TRANSPARENT_GIF, headers=_GIF_HEADERS)


def request_hit(request: web.Request, **values: Any) -> Hit:
    """The facts every hit shares, read from the request."""
    headers = request.headers
    cookies = request.cookies
    rfc7239 = request.app[CONFIG].collection.forwarded_header == "forwarded"
    explicit = values.pop("consent", None)
    if explicit is None:
        explicit = cookies.get(CONSENT_COOKIE)
    return Hit(
        ts_ms=now_ms(),
        peer=request.remote or "",
        user_agent=headers.get("User-Agent", ""),
        accept_language=headers.get("Accept-Language", ""),
        # Only the header the trusted proxies set counts; a client could send the other one.
        x_forwarded_for=_all_lines(headers, "X-Forwarded-For") if rfc7239 is False else None,
        forwarded=_all_lines(headers, "Forwarded") if rfc7239 else None,
        gpc=headers.get("Sec-GPC", "").strip() == "1",
        dnt=headers.get("DNT", "").strip() == "1",
        consent=explicit,
        visitor_cookie=_visitor_cookie(cookies),
        **values,
    )


def _all_lines(headers: CIMultiDictProxy[str], name: str) -> str | None:
    """Every line of header `name`, in order, as one list; None when there is none.

    A proxy may append its own line instead of extending the client's: reading only the first
    line would let the client choose the address that is stored.
    """
    lines = headers.getall(name, ())
    return ", ".join(lines) if lines else None


def _visitor_cookie(cookies: Mapping[str, str]) -> str:
    value = cookies.get(VISITOR_COOKIE, "")
    return value if _VISITOR_COOKIE_VALUE.fullmatch(value) else ""


def site_refusal(request: web.Request, site: str) -> str | None:
    """Why hits for `site` are refused (`no_site`, `unknown_site`), or None to accept them.

    A hit without a site would be stored under an empty one, where no report finds it.
    """
    if not site:
        return "no_site"
    sites = request.app[CONFIG].collection.sites
    if sites and site not in sites:
        return "unknown_site"
    return None


def warn(request: web.Request, reason: str) -> None:
    """Count a hit that is stored with part of it ignored (an unknown purpose, say)."""
    request.app[METRICS].warnings.labels(reason).inc()


def check_consent_names(request: web.Request, value: str | None) -> None:
    """Count consent values that name purposes ashiato does not know (they grant nothing)."""
    if value and unknown_purposes(value):
        warn(request, "unknown_purpose")


async def record(
    request: web.Request, hit: Hit, decision: ConsentDecision | None = None
) -> tuple[bool, str]:
    """Enrich and spool a hit; returns whether it was accepted and the visitor cookie to keep."""
    return await record_many(request, [hit], decision)


async def record_many(
    request: web.Request, hits: list[Hit], decision: ConsentDecision | None = None
) -> tuple[bool, str]:
    """Decide and spool hits from one request together (all accepted, or none).

    Only what the answer depends on happens here: the consent decision, the visitor cookie,
    suppression (as it stands when the hit arrives). Each hit becomes its raw record
    (`beacon.raw`) on its own, before it joins the append it shares with other requests; the
    loader enriches it later. A dirty or unencodable hit raises InvalidInput (for the caller
    to count and answer): nothing of this request is queued, and nobody else's hits are
    affected.
    """
    app = request.app
    enricher = app[ENRICHER]
    metrics = app[METRICS]
    rdns = app[RDNS]
    key = app[SECRETS].visitor_key
    suppressed = app[SUPPRESSED].current
    records, kinds = [], []
    cookie = hits[0].visitor_cookie
    decided = decision
    for hit in hits:
        hit = checked_hit(hit)
        decided = decision or enricher.decide(hit)
        if decided.allows("personalization") and not cookie:
            # The first hit of a browser that allows it: this id is its new cookie.
            cookie = secrets.token_urlsafe(16)
        visitor = visitor_pseudonym(cookie, key) if cookie else None
        if suppressed and suppressed.withholds(visitor=visitor or "", recipient=hit.recipient):
            hit = replace(hit, suppressed=True)
        if rdns is not None and hit.host is None:
            hit = replace(hit, host=rdns.cached(enricher.client_ip(hit)))
        try:
            records.append(encode_raw(raw_values(hit, decided, visitor)))
        except orjson.JSONEncodeError as exc:
            raise InvalidInput(f"the event cannot be stored: {exc}", "unencodable") from None
        kinds.append((hit.kind, retention_class(decided.purposes, hit.kind)))
    accepted = await app[BATCHER].submit(records)
    for kind, retention in kinds:
        if accepted:
            metrics.hit(kind, retention).inc()
        else:
            metrics.rejected.labels("not_accepted").inc()
    keep = decided is not None and decided.allows("personalization")
    return accepted, cookie if keep else ""


def set_cookies(request: web.Request, response: web.StreamResponse, visitor: str) -> None:
    """Keep the visitor cookie only while consent allows it; drop it once it does not."""
    consent = request.app[CONFIG].consent
    if visitor:
        if request.cookies.get(VISITOR_COOKIE) != visitor:
            response.set_cookie(
                VISITOR_COOKIE,
                visitor,
                max_age=consent.cookie_days * 86400,
                secure=consent.cookie_secure,
                httponly=True,
                samesite="Lax",
                path="/",
            )
    elif VISITOR_COOKIE in request.cookies:
        response.del_cookie(VISITOR_COOKIE, path="/")


def reject(request: web.Request, reason: str) -> None:
    request.app[METRICS].rejected.labels(reason).inc()


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The whole body, however many reads it arrives in; 413 once it grows past `limit`."""
    if request.content_length is not None and request.content_length > limit:
        reject(request, "too_large")
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit,
            actual_size=request.content_length,
            text=f"body larger than {limit} bytes",
        )
    body = bytearray()
    seconds = request.app[CONFIG].server.body_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            # One read returns what has arrived so far, maybe one TCP segment of several.
            while len(body) <= limit:
                chunk = await request.content.read(limit + 1 - len(body))
                if not chunk:
                    break
                body += chunk
    except TimeoutError:
        reject(request, "body_timeout")
        request.app[METRICS].connections_closed.labels("http", "body_timeout").inc()
        # The rest of the body may still come: close rather than read on for keep-alive.
        raise web.HTTPRequestTimeout(
            text=f"the body did not arrive within {seconds:g} s", headers={"Connection": "close"}
        ) from None
    if len(body) > limit:
        reject(request, "too_large")
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit, actual_size=len(body), text=f"body larger than {limit} bytes"
        )
    return bytes(body)
