"""Requests refused before a handler reads them: URLs past the limit, and what aiohttp's own
HTTP parser refuses.

aiohttp's parser answers some requests itself, with a text 400, before any middleware or
handler runs: a request line or header past its limits, or a byte in the URL that is not
printable ASCII (browsers percent-encode, so only hand-made clients send those). It then logs
an error with a traceback and the client's address. So the parser's URL limit is set well
above `max_url_length`, and `url_limit` enforces `max_url_length` where the route is known: a
pixel still answers the GIF, anything else 414. What the parser still refuses is counted by
`ServerLog` under `bad_http` and logged in one line, without traceback or address.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import Counter

from ashiato.collector.appkeys import CONFIG
from ashiato.collector.hits import GIF_ROUTES, gif, reject

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# aiohttp's own header-line limit, kept for headers.
MAX_FIELD_SIZE = 8190


def parser_url_limit(max_url_length: int) -> int:
    """The parser's request-URL limit: twice ours, so most overlong pixels reach `url_limit`."""
    return 2 * max_url_length


@web.middleware
async def url_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse URLs longer than `max_url_length` (counted): the GIF on pixels, else 414."""
    limit = request.app[CONFIG].server.max_url_length
    if len(request.raw_path) <= limit:
        return await handler(request)
    reject(request, "url_too_long")
    if request.match_info.route.name in GIF_ROUTES:
        return gif()
    raise web.HTTPRequestURITooLong(text=f"URL longer than {limit} bytes")


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log for one app: requests its parser refused are counted, in one line.

    Everything else aiohttp logs (a handler's exception, which answers 500) keeps its traceback
    and is counted as `internal_error`, so an alert can see hits lost to a bug.
    """

    def __init__(self, rejected: Counter) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self._bad_http = rejected.labels("bad_http")
        self._internal = rejected.labels("internal_error")

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kw: Any) -> None:
        """Log `msg` as aiohttp asked, unless it is a client's malformed request."""
        if isinstance(exc_info, HttpProcessingError):
            # The exception's text quotes the request, which may hold personal data.
            self._bad_http.inc()
            self.logger.debug("refused a malformed HTTP request (%s)", type(exc_info).__name__)
            return
        self._internal.inc()
        super().exception(msg, *args, exc_info=exc_info, **kw)
