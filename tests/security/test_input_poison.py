"""One visitor's bad input never costs another visitor's data (ashiato issue 12, finding 2).

Poisoned requests go out together with normal pixels and beacons, all at once, so they share
event-loop turns and therefore spool appends. Every normal hit must be stored, every poisoned
one refused on its own request (a 400 saying why, or the GIF) and counted under its reason.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from ashiato.beacon.gif import TRANSPARENT_GIF
from tests.collector.conftest import Collector, CollectorFactory, collector
from tests.security.input_support import assert_no_traceback, raw_http, rejected

__all__ = ["collector"]

NORMAL = 40  # of each: pixels, beacons, and hits whose headers carry bytes that are not UTF-8

# Beacon bodies (sent as bytes, exactly as written) and the reason each is refused under.
POISONED_BEACONS: list[tuple[bytes, str]] = [
    (b'{"s":"x","p":{"k":"\\ud800"}}', "lone_surrogate"),
    (b'{"s":"x","u":"https://a.example/\\udfff"}', "lone_surrogate"),
    (b'{"s":"x","sw":1e400,"sh":1}', "number_overflow"),
    (b'{"s":"x","p":{"n":' + b"9" * 5000 + b"}}", "number_overflow"),
    (b'{"s":"x","p":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}", "too_deep"),
    (b'{"s":"x","p":' + b"[" * 40 + b"]" * 40 + b"}", "too_deep"),
    (b'{"s":"x\\u0000y"}', "bad_text"),
    (b'{"s":"x","u":"https://a.example/\\ufffd"}', "bad_text"),
    (b'{"s":"x","r":"https://\xff.example/"}', "bad_body"),
]
# Pixels that must still get the GIF, and the reason each is counted under.
POISONED_PIXELS: list[tuple[str, str]] = [
    ("/b.gif?s=x%00y", "bad_text"),
    ("/b.gif?s=x&u=https://a.example/%FF", "bad_text"),
    ("/b.gif?s=x&u=https://a.example/%ED%A0%80", "bad_text"),
    ("/b.gif?s=x&u=https://a.example/" + "y" * 5000, "url_too_long"),
]

Send = Callable[[], Awaitable[None]]


@pytest.mark.parametrize("rounds", [3])
async def test_poisoned_requests_cost_no_other_visitor_a_hit(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture, rounds: int
) -> None:
    c = await collector()
    expected_urls: set[str] = set()
    expected_reasons: Counter[str] = Counter()
    sends: list[Send] = []

    for i in range(NORMAL):
        pixel_url = f"https://a.example/pixel/{i}"
        beacon_url = f"https://a.example/beacon/{i}"
        latin1_url = f"https://a.example/latin1/{i}"
        expected_urls |= {pixel_url, beacon_url, latin1_url}
        sends.append(_pixel(c, pixel_url))
        sends.append(_beacon(c, {"s": "x", "u": beacon_url, "sw": 390, "sh": 844}))
        # A Latin-1 user agent: aiohttp hands its byte over as a lone surrogate, which once
        # failed the whole shared spool append. Now it is cleaned and the hit stored.
        sends.append(_latin1_pixel(c, latin1_url))
    for _ in range(rounds):
        for body, reason in POISONED_BEACONS:
            sends.append(_poisoned_beacon(c, body))
            expected_reasons[reason] += 1
        for path, reason in POISONED_PIXELS:
            sends.append(_poisoned_pixel(c, path))
            expected_reasons[reason] += 1
        sends.append(_poisoned_consent(c))
        expected_reasons["lone_surrogate"] += 1
        sends.append(_raw_bytes_pixel(c))
        expected_reasons["bad_http"] += 1

    random.Random(12).shuffle(sends)
    await asyncio.gather(*(send() for send in sends))

    rows = await c.rows("site = 'x'")
    assert sorted(r["url"] for r in rows) == sorted(expected_urls)
    latin1 = [r for r in rows if "/latin1/" in r["url"]]
    assert {r["user_agent"] for r in latin1} == {"Caf\ufffd-Bot/1.0"}
    assert rejected(c) == dict(expected_reasons)
    assert c.metric("ashiato_hits_total", {"kind": "pageview", "consent": "necessary"}) == len(
        expected_urls
    )
    assert_no_traceback(caplog)


def _pixel(c: Collector, url: str) -> Send:
    async def send() -> None:
        response = await c.client.get("/b.gif", params={"s": "x", "u": url})
        assert response.status == 200 and await response.read() == TRANSPARENT_GIF

    return send


def _beacon(c: Collector, event: dict[str, object]) -> Send:
    async def send() -> None:
        response = await c.client.post("/b", data=json.dumps(event))
        assert response.status == 204, await response.text()

    return send


def _latin1_pixel(c: Collector, url: str) -> Send:
    async def send() -> None:
        line = f"GET /b.gif?s=x&u={url} HTTP/1.1".encode()
        response = await raw_http(c, line, [b"User-Agent: Caf\xe9-Bot/1.0"])
        assert response.status == 200 and response.body == TRANSPARENT_GIF

    return send


def _poisoned_beacon(c: Collector, body: bytes) -> Send:
    async def send() -> None:
        response = await c.client.post("/b", data=body, headers={"Content-Type": "text/plain"})
        assert response.status == 400
        assert await response.text()  # a message saying what is wrong

    return send


def _poisoned_pixel(c: Collector, path: str) -> Send:
    async def send() -> None:
        response = await c.client.get(path)
        assert response.status == 200 and await response.read() == TRANSPARENT_GIF

    return send


def _poisoned_consent(c: Collector) -> Send:
    async def send() -> None:
        response = await c.client.post("/consent", data=b'{"c":"statistics\\ud800"}')
        assert response.status == 400

    return send


def _raw_bytes_pixel(c: Collector) -> Send:
    async def send() -> None:
        # aiohttp's parser refuses bytes past ASCII in a URL before any handler runs.
        response = await raw_http(c, b"GET /b.gif?s=x&u=\xff\xfe HTTP/1.1")
        assert response.status == 400

    return send
