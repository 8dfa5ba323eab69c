"""Bodies are read whole, however many TCP segments they arrive in (issue 12, finding 3)."""

from __future__ import annotations

import json

import pytest

from tests.collector.conftest import CollectorFactory, collector
from tests.security.input_support import assert_no_traceback, raw_http, rejected

__all__ = ["collector"]

PAUSE = 0.05


def _pieces(body: bytes, count: int) -> list[bytes]:
    size = -(-len(body) // count)
    return [body[i : i + size] for i in range(0, len(body), size)]


def _chunked(pieces: list[bytes]) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces] + [b"0\r\n\r\n"]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_beacon_sent_in_several_segments_is_stored(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture, framing: str
) -> None:
    c = await collector()
    body = json.dumps(
        {"s": "seg", "u": "https://a.example/slow", "e": "pageview", "p": {"k": "v" * 300}}
    ).encode()
    pieces = _pieces(body, 4)
    if framing == "chunked":
        headers, parts = [b"Transfer-Encoding: chunked"], _chunked(pieces)
    else:
        headers, parts = [b"Content-Length: %d" % len(body)], pieces
    response = await raw_http(
        c, b"POST /b HTTP/1.1", [b"Content-Type: text/plain", *headers], parts, pause=PAUSE
    )
    assert response.status == 204, response.body
    [row] = await c.rows("site = 'seg'")
    assert row["url"] == "https://a.example/slow"
    assert json.loads(row["props"]) == {"k": "v" * 300}
    assert rejected(c) == {}
    assert_no_traceback(caplog)


async def test_a_consent_change_sent_in_several_segments_is_recorded(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector()
    body = json.dumps({"c": "statistics,personalization"}).encode()
    response = await raw_http(
        c,
        b"POST /consent?s=seg HTTP/1.1",
        [b"Content-Type: text/plain", b"Content-Length: %d" % len(body)],
        _pieces(body, 5),
        pause=PAUSE,
    )
    assert response.status == 200, response.body
    assert json.loads(response.body)["purposes"] == ["necessary", "statistics", "personalization"]
    [row] = await c.rows("site = 'seg'")
    assert (row["kind"], row["name"]) == ("consent", "grant")
    assert_no_traceback(caplog)


async def test_a_streamed_body_past_the_limit_gets_413(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector()
    piece = b"x" * 20_000  # four of them pass the 64 KiB limit; no length is declared
    response = await raw_http(
        c,
        b"POST /b HTTP/1.1",
        [b"Transfer-Encoding: chunked"],
        _chunked([piece] * 4),
        pause=PAUSE,
    )
    assert response.status == 413
    assert b"larger than 65536 bytes" in response.body
    assert rejected(c) == {"too_large": 1}
    assert await c.rows() == []
    assert_no_traceback(caplog)
