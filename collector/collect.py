"""Collection endpoints: beacon pixel, sendBeacon, tracker script, e-mail opens and clicks,
and consent. Handlers read the request, call `beacon`, hand the event to the writer, answer.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import replace
from importlib import resources
from typing import Any

from aiohttp import web

from beacon.consent import ConsentDecision, cookie_value
from beacon.errors import InvalidInput, InvalidToken
from beacon.gif import TRANSPARENT_GIF
from beacon.payload import BeaconEvent, event_name, parse_body, screen_size
from beacon.pipeline import Hit, visitor_pseudonym
from beacon.tokens import EmailToken, verify_token
from collector.appkeys import BATCHER, CONFIG, ENRICHER, METRICS, RDNS, SECRETS, SUPPRESSED

MAX_BEACON_BYTES = 64 * 1024
CONSENT_COOKIE = "ashiato_consent"
VISITOR_COOKIE = "ashiato_vid"
_GIF_HEADERS = {
    "Content-Type": "image/gif",
    "Cache-Control": "no-store, max-age=0",
}
_TRACKER = resources.files("collector").joinpath("static/t.js")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _gif() -> web.Response:
    return web.Response(body=TRANSPARENT_GIF, headers=_GIF_HEADERS)


def _request_hit(request: web.Request, **values: Any) -> Hit:
    """The facts every hit shares, read from the request."""
    headers = request.headers
    cookies = request.cookies
    rfc7239 = request.app[CONFIG].collection.forwarded_header == "forwarded"
    explicit = values.pop("consent", None)
    if explicit is None:
        explicit = cookies.get(CONSENT_COOKIE)
    return Hit(
        ts_ms=_now_ms(),
        peer=request.remote or "",
        user_agent=headers.get("User-Agent", ""),
        accept_language=headers.get("Accept-Language", ""),
        # Only the header the trusted proxies set counts; a client could send the other one.
        x_forwarded_for=headers.get("X-Forwarded-For") if rfc7239 is False else None,
        forwarded=headers.get("Forwarded") if rfc7239 else None,
        gpc=headers.get("Sec-GPC", "").strip() == "1",
        dnt=headers.get("DNT", "").strip() == "1",
        consent=explicit,
        visitor_cookie=cookies.get(VISITOR_COOKIE, ""),
        **values,
    )


def _site_allowed(request: web.Request, site: str) -> bool:
    sites = request.app[CONFIG].collection.sites
    return not sites or site in sites


async def _record(
    request: web.Request, hit: Hit, decision: ConsentDecision | None = None
) -> tuple[bool, str]:
    """Enrich and spool a hit; returns whether it was accepted and the visitor cookie to keep."""
    return await _record_many(request, [hit], decision)


async def _record_many(
    request: web.Request, hits: list[Hit], decision: ConsentDecision | None = None
) -> tuple[bool, str]:
    """Enrich hits from one request and queue them together (all accepted, or none)."""
    enricher = request.app[ENRICHER]
    metrics = request.app[METRICS]
    suppressed = request.app[SUPPRESSED].subjects
    rdns = request.app[RDNS]
    started = time.perf_counter()
    rows, kinds = [], []
    cookie = hits[0].visitor_cookie
    decided = decision
    for hit in hits:
        decided = decision or enricher.decide(hit)
        if decided.allows("personalization") and not cookie:
            # The first hit of a browser that allows it: this id is its new cookie.
            cookie = secrets.token_urlsafe(16)
        if cookie != hit.visitor_cookie:
            hit = replace(hit, visitor_cookie=cookie)
        if suppressed and _is_suppressed(request, hit, suppressed):
            hit = replace(hit, suppressed=True)
        if rdns is not None and hit.host is None:
            hit = replace(hit, host=rdns.cached(enricher.client_ip(hit)))
        event = enricher.build(hit, decided).event
        rows.append(event.to_row())
        kinds.append((hit.kind, event.retention_class))
    metrics.enrich_seconds.observe((time.perf_counter() - started) / len(hits))
    accepted = await request.app[BATCHER].submit(rows)
    for kind, retention in kinds:
        if accepted:
            metrics.hits.labels(kind, retention).inc()
        else:
            metrics.rejected.labels("not_accepted").inc()
    keep = decided is not None and decided.allows("personalization")
    return accepted, cookie if keep else ""


def _is_suppressed(request: web.Request, hit: Hit, suppressed: frozenset[tuple[str, str]]) -> bool:
    """True when the hit's visitor or e-mail recipient may not be processed further."""
    if hit.recipient and ("recipient", hit.recipient) in suppressed:
        return True
    if not hit.visitor_cookie:
        return False
    visitor = visitor_pseudonym(hit.visitor_cookie, request.app[SECRETS].visitor_key)
    return ("visitor", visitor) in suppressed


def _set_cookies(request: web.Request, response: web.StreamResponse, visitor: str) -> None:
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


def _reject(request: web.Request, reason: str) -> None:
    request.app[METRICS].rejected.labels(reason).inc()


# --- pixel and sendBeacon ---------------------------------------------------------------------


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, or 413 once it grows past `limit` (declared or streamed)."""
    if request.content_length is not None and request.content_length > limit:
        _reject(request, "too_large")
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit, actual_size=request.content_length, text="body larger than 64 KiB"
        )
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        _reject(request, "too_large")
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit, actual_size=len(body), text="body larger than 64 KiB"
        )
    return body


async def pixel(request: web.Request) -> web.Response:
    """GET /b.gif: record a page view or event; always answer the GIF."""
    query = request.query
    response = _gif()
    site = query.get("s", "")
    if not _site_allowed(request, site):
        _reject(request, "unknown_site")
        return response
    try:
        name = event_name(query.get("e", "pageview"))
    except InvalidInput:
        _reject(request, "bad_event_name")
        return response
    hit = _request_hit(
        request,
        kind="pageview" if name == "pageview" else "event",
        source="pixel",
        site=site,
        name=name,
        url=query.get("u") or request.headers.get("Referer", ""),
        referrer=query.get("r", ""),
        language=query.get("l", ""),
        screen=screen_size(query.get("sw"), query.get("sh")),
        consent=query.get("c"),
    )
    accepted, visitor = await _record(request, hit)
    if accepted:
        _set_cookies(request, response, visitor)
    return response


async def beacon(request: web.Request) -> web.Response:
    """POST /b: one event or a small batch as JSON; 204, or 400/413/503 saying why not."""
    body = await _read_limited(request, MAX_BEACON_BYTES)
    try:
        events = parse_body(body)
    except InvalidInput as exc:
        _reject(request, "bad_body")
        raise web.HTTPBadRequest(text=str(exc)) from None
    response = web.Response(status=204)
    for item in events:
        if not _site_allowed(request, item.site):
            _reject(request, "unknown_site")
            raise web.HTTPBadRequest(text=f"unknown site {item.site[:64]!r}")
    # The whole batch is accepted or refused together, so a client retrying after a 503 never
    # stores an event twice, and a refusal is counted once per event.
    accepted, visitor = await _record_many(request, [_beacon_hit(request, item) for item in events])
    if not accepted:
        raise web.HTTPServiceUnavailable(
            text="collector is overloaded; retry later", headers={"Retry-After": "30"}
        )
    _set_cookies(request, response, visitor)
    _allow_origin(request, response)
    return response


def _beacon_hit(request: web.Request, item: BeaconEvent) -> Hit:
    return _request_hit(
        request,
        kind="pageview" if item.name == "pageview" else "event",
        source="beacon",
        site=item.site,
        name=item.name,
        url=item.url or request.headers.get("Referer", ""),
        referrer=item.referrer,
        language=item.language,
        screen=item.screen,
        consent=item.consent,
        props=item.props,
    )


def _allow_origin(request: web.Request, response: web.StreamResponse) -> None:
    """Let the tracked sites' pages read answers and keep cookies on cross-origin calls."""
    origin = request.headers.get("Origin", "")
    if not origin:
        return
    own = request.app[CONFIG].collection.own_hosts
    host = origin.split("://", 1)[-1].split(":", 1)[0].lower()
    if not own or host in own or host.removeprefix("www.") in own:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"


async def tracker(request: web.Request) -> web.Response:
    """GET /t.js: the tracker script, cacheable."""
    return web.Response(
        body=_TRACKER.read_bytes(),
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=3600",
        },
    )


# --- e-mail -----------------------------------------------------------------------------------


async def email_open(request: web.Request) -> web.Response:
    """GET /o/{token}.gif: record an e-mail open; a bad token still gets the GIF."""
    try:
        token = verify_token(
            request.match_info["token"], request.app[SECRETS].tokens, now=time.time(), kind="open"
        )
    except InvalidToken:
        _reject(request, "bad_token")
        return _gif()
    hit = _request_hit(
        request,
        kind="email_open",
        source="email",
        campaign=token.campaign,
        recipient=token.recipient,
    )
    await _record(request, hit)
    return _gif()


async def email_click(request: web.Request) -> web.Response:
    """GET /c/{token}: record a click and redirect to the URL inside a valid token only."""
    try:
        token = verify_token(
            request.match_info["token"], request.app[SECRETS].tokens, now=time.time(), kind="click"
        )
    except InvalidToken:
        _reject(request, "bad_token")
        raise web.HTTPNotFound(text="unknown or expired link") from None
    hit = _request_hit(
        request,
        kind="email_click",
        source="email",
        campaign=token.campaign,
        recipient=token.recipient,
        target_url=token.url,
        url=token.url,
    )
    await _record(request, hit)
    raise web.HTTPFound(token.url, headers={"Cache-Control": "no-store"})


_OPTOUT_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>Unsubscribe</title>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">{body}</body></html>"""
_OPTOUT_FORM = """<h1>Unsubscribe</h1><p>Stop marketing e-mail to this address?</p>
<form method="post"><button type="submit">Unsubscribe</button></form>"""
_OPTOUT_DONE = "<h1>Unsubscribed</h1><p>You will receive no more marketing e-mail.</p>"
_OPTOUT_BAD = "<h1>Link not valid</h1><p>This unsubscribe link is unknown or has expired.</p>"


def _optout_token(request: web.Request) -> EmailToken | None:
    try:
        return verify_token(
            request.match_info["token"],
            request.app[SECRETS].tokens,
            now=time.time(),
            kind="optout",
        )
    except InvalidToken:
        _reject(request, "bad_token")
        return None


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_OPTOUT_PAGE.format(body=body),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


async def email_optout_page(request: web.Request) -> web.Response:
    """GET /u/{token}: ask before opting out, since link scanners open every link they see."""
    if _optout_token(request) is None:
        return _page(_OPTOUT_BAD, 404)
    return _page(_OPTOUT_FORM)


async def email_optout(request: web.Request) -> web.Response:
    """POST /u/{token}: opt out of marketing e-mail (also RFC 8058 one-click unsubscribe)."""
    token = _optout_token(request)
    if token is None:
        return _page(_OPTOUT_BAD, 404)
    hit = _request_hit(
        request,
        kind="consent",
        source="email",
        name="email_opt_out",
        consent="",
        campaign=token.campaign,
        recipient=token.recipient,
    )
    accepted, _ = await _record(request, hit)
    if not accepted:
        raise web.HTTPServiceUnavailable(text="retry later", headers={"Retry-After": "30"})
    return _page(_OPTOUT_DONE)


# --- consent ----------------------------------------------------------------------------------


async def consent_get(request: web.Request) -> web.Response:
    """GET /consent: the consent state this browser's signals and cookies give."""
    hit = _request_hit(request, kind="consent", source="consent")
    decision = request.app[ENRICHER].decide(hit)
    response = web.json_response(
        {
            "purposes": list(decision.purposes),
            "signal": decision.signal,
            "visitor_cookie": VISITOR_COOKIE in request.cookies,
            "policy_version": request.app[CONFIG].consent.policy_version,
        }
    )
    _allow_origin(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


async def consent_post(request: web.Request) -> web.Response:
    """POST /consent: record a grant, opt-out or withdrawal and set or clear the cookies."""
    body = await _read_limited(request, 4096)
    value: Any = request.query.get("c")
    if value is None:
        try:
            doc = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (UnicodeDecodeError, ValueError):
            _reject(request, "bad_body")
            raise web.HTTPBadRequest(text='body must be JSON like {"c": "statistics"}') from None
        value = doc.get("c") if isinstance(doc, dict) else None
    if not isinstance(value, str):
        _reject(request, "bad_body")
        raise web.HTTPBadRequest(text="'c' must be a string of purposes, e.g. \"statistics\"")
    site = request.query.get("s", "")
    hit = _request_hit(request, kind="consent", source="consent", consent=value, site=site)
    decision = request.app[ENRICHER].decide(hit)
    hit = replace(hit, name="grant" if len(decision.purposes) > 1 else "withdraw")
    accepted, visitor = await _record(request, hit, decision)
    if not accepted:
        raise web.HTTPServiceUnavailable(text="retry later", headers={"Retry-After": "30"})
    response = web.json_response({"purposes": list(decision.purposes), "signal": decision.signal})
    config = request.app[CONFIG].consent
    response.set_cookie(
        CONSENT_COOKIE,
        cookie_value(decision.purposes),
        max_age=config.cookie_days * 86400,
        secure=config.cookie_secure,
        httponly=False,
        samesite="Lax",
        path="/",
    )
    _set_cookies(request, response, visitor)
    _allow_origin(request, response)
    return response


def add_routes(app: web.Application) -> None:
    """Register the collection endpoints."""
    app.router.add_get("/b.gif", pixel)
    app.router.add_post("/b", beacon)
    app.router.add_get("/t.js", tracker)
    app.router.add_get("/o/{token}.gif", email_open)
    app.router.add_get("/c/{token}", email_click)
    app.router.add_get("/u/{token}", email_optout_page)
    app.router.add_post("/u/{token}", email_optout)
    app.router.add_get("/consent", consent_get)
    app.router.add_post("/consent", consent_post)
