"""The syslog listener: nginx's `access_log syslog:server=…` feeds ashiato directly.

UDP datagrams and TCP streams (RFC 6587 octet-counted or newline-framed) carrying RFC 3164 or
RFC 5424 messages; each message body is one access-log line. UDP has no way to push back, so a
full spool drops (and counts) lines; TCP stops reading until the writer accepts again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ashiato.beacon.syslog import OctetFramer, parse_syslog
from ashiato.collector.appkeys import CONFIG, METRICS, WRITER
from ashiato.collector.ingest import IngestCounts, LogIngestor, record_ingest

log = logging.getLogger(__name__)


class SyslogHandler:
    """Turns syslog frames into spooled events."""

    def __init__(self, app: web.Application) -> None:
        config = app[CONFIG].collection
        self._app = app
        self._ingestor = LogIngestor(
            config.syslog_format,
            site=config.syslog_site,
            base_url=config.syslog_base_url,
            exclude=config.log_exclude,
        )

    def handle(self, frame: bytes) -> bool:
        """Store one frame's line; False when the writer could not take it."""
        message = parse_syslog(frame)
        metrics = self._app[METRICS]
        if message is None:
            record_ingest(metrics, _rejected("bad_syslog"), "syslog")
            return True
        records, counts = self._ingestor.records([message.message])
        if records and not self._app[WRITER].submit_records(records):
            counts.stored = 0
            counts.rejected["spool_full"] += len(records)
            record_ingest(metrics, counts, "syslog")
            return False
        record_ingest(metrics, counts, "syslog")
        return True

    def oversized(self, frames: int) -> None:
        """Count frames the framer dropped for being longer than it holds."""
        record_ingest(self._app[METRICS], _rejected("too_long", frames), "syslog")


def _rejected(reason: str, n: int = 1) -> IngestCounts:
    counts = IngestCounts(read=n)
    counts.rejected[reason] += n
    return counts


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, handler: SyslogHandler) -> None:
        self._handler = handler

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._handler.handle(data)


class _Streams:
    """The syslog TCP connections: a cap on their number and an idle deadline for each."""

    def __init__(self, app: web.Application, handler: SyslogHandler) -> None:
        config = app[CONFIG]
        self._handler = handler
        self._idle = config.collection.syslog_idle_seconds
        self._max = config.server.max_connections
        self._closed = app[METRICS].connections_closed
        self.open = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one sender's frames until it closes, falls idle, or the cap refuses it."""
        if self.open >= self._max:
            self._closed.labels("syslog", "over_capacity").inc()
            writer.transport.abort()
            return
        self.open += 1
        framer = OctetFramer()
        try:
            while True:
                try:
                    async with asyncio.timeout(self._idle):
                        data = await reader.read(65536)
                except TimeoutError:
                    self._closed.labels("syslog", "idle").inc()
                    break
                if not data:
                    break
                dropped = framer.oversized
                frames = framer.feed(data)
                if framer.oversized > dropped:
                    self._handler.oversized(framer.oversized - dropped)
                for frame in frames:
                    # Back-pressure: stop reading this connection until the writer takes it.
                    while not self._handler.handle(frame):
                        await asyncio.sleep(0.5)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()


async def syslog_ctx(app: web.Application) -> AsyncIterator[None]:
    """Listen for syslog on UDP and TCP while the app runs, when a port is configured."""
    config = app[CONFIG].collection
    if not config.syslog_port:
        yield
        return
    handler = SyslogHandler(app)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Datagrams(handler), local_addr=(config.syslog_host, config.syslog_port)
    )
    streams = _Streams(app, handler)
    server = await asyncio.start_server(streams.serve, config.syslog_host, config.syslog_port)
    log.info("syslog listener on %s:%d (udp, tcp)", config.syslog_host, config.syslog_port)
    yield
    server.close()
    await server.wait_closed()
    transport.close()
