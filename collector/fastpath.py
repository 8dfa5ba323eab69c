"""The shortest way from a connection to the pixel handler: aiohttp's low-level dispatch.

A pixel is most of what a collector answers, and aiohttp's application layer (router lookup,
a match-info object, a chain of middleware wrappers) costs per request about as much as
everything the pixel itself does. Requests for the pixel therefore go straight from aiohttp's
low-level server to the same handler, with what the middlewares do done inline: the
connection guard's clock and the URL limit. Every other request takes the application's
usual path, middlewares and all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from ashiato.collector.appkeys import CONFIG
from ashiato.collector.hits import gif, reject
from ashiato.collector.listener import GuardedHandler

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
PIXEL_PATH = "/b.gif"


def pixel_dispatch(
    app: web.Application,
    handle: Handler,
    pixel: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Handler:
    """A low-level request handler: GET /b.gif to `pixel`, anything else to `handle` (the
    application's own entry point). Call once the application is frozen."""
    resource = app.router.named_resources()["pixel"]
    route = next(route for route in resource if route.method == "GET")
    # One shared, frozen match for every pixel request: the handler only reads it (the route
    # and the app); building one per request is most of what the router costs.
    matched = UrlMappingMatchInfo({}, route)
    matched.add_app(app)
    matched.freeze()
    limit = app[CONFIG].server.max_url_length

    async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
        raw_path = request.raw_path
        if request.method != "GET" or raw_path.partition("?")[0] != PIXEL_PATH:
            return await handle(request)
        assert isinstance(request, web.Request)
        request._match_info = matched  # what Application._handle sets after routing
        protocol = request.protocol
        guarded = protocol if isinstance(protocol, GuardedHandler) else None
        if guarded is not None:
            guarded.request_started()
        try:
            if len(raw_path) > limit:  # `malformed.url_limit`, for the one route that is here
                reject(request, "url_too_long")
                return gif()
            return await pixel(request)
        finally:
            if guarded is not None:
                guarded.request_finished()

    return dispatch
