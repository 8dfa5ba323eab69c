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
from ashiato.collector.appkeys import CONFIG, ENRICHER, METRICS, WRITER
from ashiato.collector.ingest import IngestCounts, LogIngestor, record_ingest

log = logging.getLogger(__name__)


class SyslogHandler:
    """Turns syslog frames into spooled events."""

    def __init__(self, app: web.Application) -> None:
        config = app[CONFIG].collection
        self._app = app
        self._ingestor = LogIngestor(
            app[ENRICHER],
            config.syslog_format,
            site=config.syslog_site,
            exclude=config.log_exclude,
        )

    def handle(self, frame: bytes) -> bool:
        """Store one frame's line; False when the writer could not take it."""
        message = parse_syslog(frame)
        metrics = self._app[METRICS]
        if message is None:
            record_ingest(metrics, _rejected("bad_syslog"), "syslog")
            return True
        rows, counts = self._ingestor.rows([message.message])
        if rows and not self._app[WRITER].submit(rows):
            counts.stored = 0
            counts.rejected["spool_full"] += len(rows)
            record_ingest(metrics, counts, "syslog")
            return False
        record_ingest(metrics, counts, "syslog")
        return True


def _rejected(reason: str) -> IngestCounts:
    counts = IngestCounts(read=1)
    counts.rejected[reason] += 1
    return counts


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, handler: SyslogHandler) -> None:
        self._handler = handler

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._handler.handle(data)


async def _serve_stream(
    handler: SyslogHandler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    framer = OctetFramer()
    try:
        while data := await reader.read(65536):
            for frame in framer.feed(data):
                # Back-pressure: stop reading this connection until the writer takes the line.
                while not handler.handle(frame):
                    await asyncio.sleep(0.5)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
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
    server = await asyncio.start_server(
        lambda r, w: _serve_stream(handler, r, w), config.syslog_host, config.syslog_port
    )
    log.info("syslog listener on %s:%d (udp, tcp)", config.syslog_host, config.syslog_port)
    yield
    server.close()
    await server.wait_closed()
    transport.close()
