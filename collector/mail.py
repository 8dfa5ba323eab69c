"""E-mail endpoints: open pixels, tracked clicks and marketing opt-out, all by signed token."""

from __future__ import annotations

import time

from aiohttp import web

from ashiato.beacon.errors import InvalidInput, InvalidToken
from ashiato.beacon.tokens import EmailToken, verify_token
from ashiato.collector.appkeys import SECRETS
from ashiato.collector.hits import (
    gif,
    record,
    reject,
    request_hit,
)


def _token(request: web.Request, kind: str) -> EmailToken | None:
    """The request's valid token of `kind`, or None (counted) for a forged or expired one."""
    try:
        return verify_token(
            request.match_info["token"], request.app[SECRETS].tokens, now=time.time(), kind=kind
        )
    except InvalidToken:
        reject(request, "bad_token")
        return None


async def email_open(request: web.Request) -> web.Response:
    """GET /o/{token}.gif: record an e-mail open; a bad token still gets the GIF."""
    token = _token(request, "open")
    if token is None:
        return gif()
    hit = request_hit(
        request,
        kind="email_open",
        source="email",
        campaign=token.campaign,
        recipient=token.recipient,
    )
    try:
        await record(request, hit)
    except InvalidInput as exc:
        reject(request, exc.reason)
    return gif()


async def email_click(request: web.Request) -> web.Response:
    """GET /c/{token}: record a click and redirect to the URL inside a valid token only."""
    token = _token(request, "click")
    if token is None:
        raise web.HTTPNotFound(text="unknown or expired link")
    hit = request_hit(
        request,
        kind="email_click",
        source="email",
        campaign=token.campaign,
        recipient=token.recipient,
        target_url=token.url,
        url=token.url,
    )
    try:
        await record(request, hit)
    except InvalidInput as exc:
        # Not stored, but the recipient still gets where the signed link leads.
        reject(request, exc.reason)
    raise web.HTTPFound(token.url, headers={"Cache-Control": "no-store"})


_OPTOUT_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>Unsubscribe</title>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">{body}</body></html>"""
_OPTOUT_FORM = """<h1>Unsubscribe</h1><p>Stop marketing e-mail to this address?</p>
<form method="post"><button type="submit">Unsubscribe</button></form>"""
_OPTOUT_DONE = "<h1>Unsubscribed</h1><p>You will receive no more marketing e-mail.</p>"
_OPTOUT_BAD = "<h1>Link not valid</h1><p>This unsubscribe link is unknown or has expired.</p>"


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_OPTOUT_PAGE.format(body=body),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


async def email_optout_page(request: web.Request) -> web.Response:
    """GET /u/{token}: ask before opting out, since link scanners open every link they see."""
    if _token(request, "optout") is None:
        return _page(_OPTOUT_BAD, 404)
    return _page(_OPTOUT_FORM)


async def email_optout(request: web.Request) -> web.Response:
    """POST /u/{token}: opt out of marketing e-mail (also RFC 8058 one-click unsubscribe)."""
    token = _token(request, "optout")
    if token is None:
        return _page(_OPTOUT_BAD, 404)
    hit = request_hit(
        request,
        kind="consent",
        source="email",
        name="email_opt_out",
        consent="",
        campaign=token.campaign,
        recipient=token.recipient,
    )
    try:
        accepted, _ = await record(request, hit)
    except InvalidInput as exc:
        reject(request, exc.reason)
        return _page(_OPTOUT_BAD, 400)
    if not accepted:
        raise web.HTTPServiceUnavailable(text="retry later", headers={"Retry-After": "30"})
    return _page(_OPTOUT_DONE)
