"""Consent endpoints: record a grant or withdrawal, and show a browser its state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from ashiato.beacon import strictjson
from ashiato.beacon.consent import cookie_value, unknown_purposes
from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.vocabulary import PURPOSES
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
    site_refusal,
    warn,
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
    try:
        doc = strictjson.loads(body) if body.strip() else {}
    except InvalidInput as exc:
        reject(request, exc.reason)
        raise web.HTTPBadRequest(
            text=f'body must be JSON like {{"c": "statistics", "s": "shop"}}: {exc}'
        ) from None
    if not isinstance(doc, dict):
        doc = {}
    value: Any = request.query.get("c", doc.get("c"))
    site: Any = request.query.get("s", doc.get("s", ""))
    if not isinstance(value, str):
        reject(request, "bad_body")
        raise web.HTTPBadRequest(text="'c' must be a string of purposes, e.g. \"statistics\"")
    if not isinstance(site, str):
        reject(request, "bad_body")
        raise web.HTTPBadRequest(text="'s' must be the site id, a string")
    unknown = unknown_purposes(value)
    if unknown:
        reject(request, "unknown_purpose")
        raise web.HTTPBadRequest(
            text=f"unknown purpose {unknown[0]!r}; known: {', '.join(PURPOSES)}"
        )
    if site:
        refusal = site_refusal(request, site)
        if refusal is not None:
            reject(request, refusal)
            raise web.HTTPBadRequest(text=f"unknown site {site[:64]!r}")
    else:
        warn(request, "no_site")
    hit = request_hit(request, kind="consent", source="consent", consent=value, site=site)
    decision = request.app[ENRICHER].decide(hit)
    hit = replace(hit, name="grant" if len(decision.purposes) > 1 else "withdraw")
    # A page that tells its consent on every load changes nothing: store changes only.
    changed = request.cookies.get(CONSENT_COOKIE) != cookie_value(decision.purposes)
    visitor = request.cookies.get(VISITOR_COOKIE, "") if decision.allows("personalization") else ""
    if changed:
        try:
            accepted, visitor = await record(request, hit, decision)
        except InvalidInput as exc:
            reject(request, exc.reason)
            raise web.HTTPBadRequest(text=str(exc)) from None
        if not accepted:
            raise web.HTTPServiceUnavailable(text="retry later", headers={"Retry-After": "30"})
    response = web.json_response(
        {"purposes": list(decision.purposes), "signal": decision.signal, "changed": changed}
    )
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
