"""The HTTP listener: limits on connections themselves, before any request handler runs.

aiohttp reads a request's headers without a deadline of its own, so a client that sends half
a request line and then waits holds a connection (and its buffers) for as long as the idle
keep-alive timer allows, and nothing caps how many connections are open. The guard here gives
every connection a deadline to deliver complete request headers, closes keep-alive
connections that stay idle, refuses connections past a cap, and counts each of these in
`ashiato_connections_closed_total{reason}`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ashiato.collector.appkeys import METRICS

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class ListenError(Exception):
    """The listening socket could not be opened (address in use, permission, bad host)."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How long a connection may take to send its headers or stay idle, and how many may be open."""

    header_seconds: float
    idle_seconds: float
    max_connections: int


class ConnectionGuard:
    """The open connections of one listener, and what happens to those over their limits."""

    def __init__(self, limits: ConnectionLimits, count: Callable[[str], None]) -> None:
        self.limits = limits
        self.open = 0
        self._count = count

    def closed(self, reason: str) -> None:
        """Count a connection this guard closed."""
        self._count(reason)


class GuardedHandler(RequestHandler):
    """aiohttp's request handler with a header deadline, an idle deadline and a cap."""

    def __init__(self, manager: web.Server, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._deadline: asyncio.TimerHandle | None = None
        self._bytes_since_answer = False
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Refuse past the cap; otherwise start the idle clock."""
        guard = self._guard
        if guard.open >= guard.limits.max_connections:
            self._refused = True
            guard.closed("over_capacity")
            cast(asyncio.Transport, transport).abort()
            return
        guard.open += 1
        super().connection_made(transport)
        self._arm(guard.limits.idle_seconds)

    def data_received(self, data: bytes) -> None:
        """The first bytes of a request start the clock for its headers."""
        if data and not self._bytes_since_answer and self._deadline is not None:
            self._bytes_since_answer = True
            self._arm(self._guard.limits.header_seconds)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Release this connection's place under the cap."""
        if self._refused:
            return
        self._disarm()
        self._guard.open -= 1
        super().connection_lost(exc)

    def request_started(self) -> None:
        """Headers are complete: the handler runs without this guard's deadline."""
        self._disarm()

    def request_finished(self) -> None:
        """The answer is written: the connection may idle, then send the next request."""
        self._bytes_since_answer = False
        self._arm(self._guard.limits.idle_seconds)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self._loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self._guard.closed("header_timeout" if self._bytes_since_answer else "idle")
        self.force_close()
        if self.transport is not None:
            self.transport.close()


@web.middleware
async def guard_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tell the connection's guard when a request's handler runs and when it is done."""
    protocol = request.protocol
    guarded = protocol if isinstance(protocol, GuardedHandler) else None
    if guarded is not None:
        guarded.request_started()
    try:
        return await handler(request)
    finally:
        if guarded is not None:
            guarded.request_finished()


class Listener:
    """An application served on one address with guarded connections; start, then stop."""

    def __init__(
        self,
        app: web.Application,
        limits: ConnectionLimits,
        *,
        shutdown_timeout: float,
        handler_args: dict[str, Any],
        dispatch: Callable[[web.Application, Handler], Handler] | None = None,
    ) -> None:
        self.app = app
        self._dispatch = dispatch
        self._limits = limits
        self._handler_args: dict[str, Any] = {
            # aiohttp's own idle timer stays as a backstop behind the guard's.
            "keepalive_timeout": limits.idle_seconds + 1,
            # No access log: it would carry addresses, URLs and user agents (personal data).
            "access_log": None,
            **handler_args,
        }
        self._runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout, **self._handler_args)
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Bind, start the application, then accept.

        The address is taken first, so a port in use is a ListenError before the application
        starts (and before it migrates or opens its spool).
        """
        sock = bind(host, port, reuse_port=reuse_port)
        try:
            await self._runner.setup()
        except BaseException:
            sock.close()
            raise
        manager = self._runner.server
        assert manager is not None
        if self._dispatch is not None:
            # Requests reach `dispatch` first, the application only through it (`fastpath`).
            manager.request_handler = self._dispatch(self.app, manager.request_handler)
        metrics = self.app[METRICS]
        guard = ConnectionGuard(
            self._limits, lambda reason: metrics.connections_closed.labels("http", reason).inc()
        )
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: GuardedHandler(manager, guard, loop=loop, **self._handler_args),
            sock=sock,
            backlog=1024,
        )

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish, then run the app's cleanup."""
        if self._server is not None:
            self._server.close()
        await self._runner.cleanup()


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A socket bound to `host:port`, or ListenError saying in one line why it cannot be."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(explain_listen_error(exc, host, port)) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ListenError(explain_listen_error(exc, host, port)) from None
    sock.setblocking(False)
    return sock


def explain_listen_error(exc: OSError, host: str, port: int) -> str:
    """One line saying why `host:port` cannot be listened on, and what to do about it."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the address is already in use; "
            "pick another port with --port or ASHIATO_PORT"
        )
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: no such local address; check --host"
    return f"cannot listen on {where}: {exc.strerror or exc}"
