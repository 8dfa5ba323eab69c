"""E-mail endpoints: open pixels, tracked clicks and marketing opt-out, all by signed token."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from ashiato.beacon.errors import InvalidInput, InvalidToken
from ashiato.beacon.tokens import EmailToken, verify_token
from ashiato.collector.appkeys import SECRETS, STORE, SUPPRESSED
from ashiato.collector.hits import (
    gif,
    record,
    reject,
    request_hit,
)
from ashiato.retention.optouts import opt_out
from ashiato.retention.suppress import Suppression
from ashiato.storage.backend import connection
from ashiato.storage.errors import StorageError


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
        token_issued_ms=token.issued * 1000,
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
        token_issued_ms=token.issued * 1000,
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
    """POST /u/{token}: opt out of marketing e-mail (also RFC 8058 one-click unsubscribe).

    The opt-out is a suppression row (`retention.optouts`), written before the answer, so it
    outlives expiry and erasure; opens and clicks of the recipient keep no identifier from the
    next hit on. The event counts the opt-out for its campaign, naming nobody.
    """
    token = _token(request, "optout")
    if token is None:
        return _page(_OPTOUT_BAD, 404)
    store = request.app[STORE]

    def _write() -> Suppression:
        with connection(store) as backend:
            return opt_out(backend, token.recipient)

    try:
        request.app[SUPPRESSED].add(await asyncio.to_thread(_write))
    except StorageError:
        raise web.HTTPServiceUnavailable(
            text="retry later", headers={"Retry-After": "30"}
        ) from None
    hit = request_hit(
        request,
        kind="consent",
        source="email",
        name="email_opt_out",
        consent="",
        campaign=token.campaign,
        suppressed=True,
    )
    try:
        await record(request, hit)
    except InvalidInput as exc:
        # The opt-out is on record already; only its count for the campaign is lost.
        reject(request, exc.reason)
    return _page(_OPTOUT_DONE)


def add_loader_routes(app: web.Application) -> None:
    """The e-mail route a loader answers for the edges: the opt-out writes a suppression."""
    app.router.add_post("/u/{token}", email_optout)
