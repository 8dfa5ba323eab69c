"""Helpers for the input-hardening tests: raw HTTP on a real socket, counters, clean logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from tests.collector.conftest import Collector


@dataclass(frozen=True)
class RawResponse:
    """A response read off the socket: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


async def raw_http(
    c: Collector,
    request_line: bytes,
    headers: Sequence[bytes] = (),
    body_parts: Sequence[bytes] = (),
    pause: float = 0.0,
) -> RawResponse:
    """Send a request byte for byte: the head first, then each body part after `pause`.

    Every part goes out in its own write after a sleep, so the server receives it in a separate
    TCP segment, as a slow or distant client's body arrives.
    """
    reader, writer = await asyncio.open_connection(c.client.host, c.client.port)
    try:
        head = [request_line, b"Host: collector.test", *headers, b"Connection: close"]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        await writer.drain()
        try:
            for part in body_parts:
                await asyncio.sleep(pause)
                writer.write(part)
                await writer.drain()
        except ConnectionError:
            pass  # the server answered (a 413, say) and closed before the body was all sent
        data = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), parsed, body)


def rejected(c: Collector) -> dict[str, float]:
    """Every `ashiato_rejected_total` sample by reason, leaving out zeros."""
    counts: dict[str, float] = {}
    for family in c.registry.collect():
        if family.name != "ashiato_rejected":
            continue
        for sample in family.samples:
            if sample.name == "ashiato_rejected_total" and sample.value:
                counts[sample.labels["reason"]] = sample.value
    return counts


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing was logged as an error, and no record carries a traceback."""
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]
    assert "Traceback" not in caplog.text
