"""Consent endpoints: record a grant or withdrawal, and show a browser its state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from ashiato.beacon import strictjson
from ashiato.beacon.consent import cookie_value
from ashiato.beacon.errors import InvalidInput
from ashiato.collector.appkeys import CONFIG, ENRICHER
from ashiato.collector.cors import allow_origin
from ashiato.collector.hits import (
    CONSENT_COOKIE,
    VISITOR_COOKIE,
    read_limited,
    record,
    reject,
    request_hit,
    set_cookies,
)


async def consent_get(request: web.Request) -> web.Response:
    """GET /consent: the consent state this browser's signals and cookies give."""
    hit = request_hit(request, kind="consent", source="consent")
    decision = request.app[ENRICHER].decide(hit)
    response = web.json_response(
        {
            "purposes": list(decision.purposes),
            "signal": decision.signal,
            "visitor_cookie": VISITOR_COOKIE in request.cookies,
            "policy_version": request.app[CONFIG].consent.policy_version,
        }
    )
    allow_origin(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


async def consent_post(request: web.Request) -> web.Response:
    """POST /consent: record a grant, opt-out or withdrawal and set or clear the cookies."""
    body = await read_limited(request, 4096)
    value: Any = request.query.get("c")
    if value is None:
        try:
            doc = strictjson.loads(body) if body.strip() else {}
        except InvalidInput as exc:
            reject(request, exc.reason)
            raise web.HTTPBadRequest(
                text=f'body must be JSON like {{"c": "statistics"}}: {exc}'
            ) from None
        value = doc.get("c") if isinstance(doc, dict) else None
    if not isinstance(value, str):
        reject(request, "bad_body")
        raise web.HTTPBadRequest(text="'c' must be a string of purposes, e.g. \"statistics\"")
    site = request.query.get("s", "")
    hit = request_hit(request, kind="consent", source="consent", consent=value, site=site)
    decision = request.app[ENRICHER].decide(hit)
    hit = replace(hit, name="grant" if len(decision.purposes) > 1 else "withdraw")
    try:
        accepted, visitor = await record(request, hit, decision)
    except InvalidInput as exc:
        reject(request, exc.reason)
        raise web.HTTPBadRequest(text=str(exc)) from None
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
    set_cookies(request, response, visitor)
    allow_origin(request, response)
    return response
