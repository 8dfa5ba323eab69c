"""The page endpoints: beacon pixel, sendBeacon and the tracker script."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ashiato.beacon.consent_signals import read_signals
from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.payload import BeaconEvent, event_name, parse_body, screen_size
from ashiato.beacon.pipeline import Hit
from ashiato.collector import consent_api, mail
from ashiato.collector.cors import allow_origin
from ashiato.collector.hits import (
    MAX_BEACON_BYTES,
    check_consent_names,
    gif,
    read_limited,
    record,
    record_many,
    reject,
    request_hit,
    set_cookies,
    site_refusal,
)
from ashiato.collector.tracker import load_tracker, tracker_handler

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def pixel(request: web.Request) -> web.Response:
    """GET /b.gif: record a page view or event; always answer the GIF."""
    query = request.query
    response = gif()
    site = query.get("s", "")
    refusal = site_refusal(request, site)
    if refusal is not None:
        reject(request, refusal)
        return response
    check_consent_names(request, query.get("c"))
    try:
        name = event_name(query.get("e", "pageview"))
    except InvalidInput:
        reject(request, "bad_event_name")
        return response
    hit = request_hit(
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
        signals=read_signals(query),
    )
    try:
        accepted, visitor = await record(request, hit)
    except InvalidInput as exc:
        reject(request, exc.reason)
        return response
    if accepted:
        set_cookies(request, response, visitor)
    return response


async def beacon(request: web.Request) -> web.Response:
    """POST /b: one event or a small batch as JSON; 204, or 400/413/503 saying why not."""
    body = await read_limited(request, MAX_BEACON_BYTES)
    try:
        events = parse_body(body)
    except InvalidInput as exc:
        reject(request, exc.reason)
        raise web.HTTPBadRequest(text=str(exc)) from None
    response = web.Response(status=204)
    for item in events:
        refusal = site_refusal(request, item.site)
        if refusal == "no_site":
            reject(request, refusal)
            raise web.HTTPBadRequest(text="each event needs its site in 's'")
        if refusal is not None:
            reject(request, refusal)
            raise web.HTTPBadRequest(text=f"unknown site {item.site[:64]!r}")
        check_consent_names(request, item.consent)
    # The whole batch is accepted or refused together, so a client retrying after a 503 never
    # stores an event twice, and a refusal is counted once per event.
    hits = [_beacon_hit(request, item) for item in events]
    try:
        accepted, visitor = await record_many(request, hits)
    except InvalidInput as exc:
        reject(request, exc.reason)
        raise web.HTTPBadRequest(text=str(exc)) from None
    if not accepted:
        raise web.HTTPServiceUnavailable(
            text="collector is overloaded; retry later", headers={"Retry-After": "30"}
        )
    set_cookies(request, response, visitor)
    allow_origin(request, response)
    return response


def _beacon_hit(request: web.Request, item: BeaconEvent) -> Hit:
    return request_hit(
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
        signals=item.signals,
        props=item.props,
    )


def add_routes(app: web.Application, optout: Handler = mail.email_optout) -> None:
    """Register every collection endpoint: page, e-mail and consent.

    `optout` answers an e-mail opt-out (it writes a suppression: an edge passes it on).
    """
    # Named so the URL limit can tell the routes that must answer the GIF (hits.GIF_ROUTES).
    app.router.add_get("/b.gif", pixel, name="pixel")
    app.router.add_post("/b", beacon)
    app.router.add_get("/t.js", tracker_handler(load_tracker()))
    app.router.add_get("/o/{token}.gif", mail.email_open, name="email_open")
    app.router.add_get("/c/{token}", mail.email_click)
    app.router.add_get("/u/{token}", mail.email_optout_page)
    app.router.add_post("/u/{token}", optout)
    app.router.add_get("/consent", consent_api.consent_get)
    app.router.add_post("/consent", consent_api.consent_post)
