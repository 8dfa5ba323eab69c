"""Every line of a forwarding header counts, so a client cannot choose its stored address by
sending the first line itself (issue 12, finding 5)."""

from __future__ import annotations

import pytest

from ashiato.beacon.gif import TRANSPARENT_GIF
from tests.collector.conftest import CollectorFactory, collector
from tests.security.input_support import assert_no_traceback, raw_http

__all__ = ["collector"]

# The test client connects from 127.0.0.1, standing in for the trusted proxy.
PROXY = "127.0.0.0/8"


async def test_x_forwarded_for_lines_are_joined_and_read_from_the_right(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector(trusted_proxies=PROXY)
    response = await raw_http(
        c,
        b"GET /b.gif?s=xff HTTP/1.1",
        [
            b"X-Forwarded-For: 192.0.2.66",  # the client's own choice, passed on by the proxy
            b"X-Forwarded-For: 198.51.100.7",  # the line the proxy appended: the real client
        ],
    )
    assert response.status == 200 and response.body == TRANSPARENT_GIF
    [row] = await c.rows()
    assert (row["ip"], row["ip_full"]) == ("198.51.100.0", "198.51.100.7")
    assert_no_traceback(caplog)


async def test_forwarded_lines_are_joined_and_read_from_the_right(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector(trusted_proxies=PROXY, forwarded_header="forwarded")
    body = b'{"s":"fwd"}'
    response = await raw_http(
        c,
        b"POST /b HTTP/1.1",
        [
            b"Forwarded: for=192.0.2.66;proto=https",
            b'Forwarded: for="[2001:db8:cafe::17]:4711";proto=https',
            b"Content-Length: %d" % len(body),
        ],
        [body],
    )
    assert response.status == 204
    [row] = await c.rows()
    assert (row["ip"], row["ip_full"]) == ("2001:db8:cafe::", "2001:db8:cafe::17")
    assert_no_traceback(caplog)


async def test_a_long_client_line_cannot_push_out_the_proxy_line(
    collector: CollectorFactory,
) -> None:
    c = await collector(trusted_proxies=PROXY)
    # Two lines of 7 KiB each, within aiohttp's limit per line; joined, past netaddr's 8 KiB.
    padding = b"X-Forwarded-For: " + b", ".join([b"192.0.2.66"] * 600)
    await raw_http(
        c,
        b"GET /b.gif?s=xff HTTP/1.1",
        [padding, padding, b"X-Forwarded-For: 198.51.100.7"],
    )
    [row] = await c.rows()
    assert row["ip_full"] == "198.51.100.7"


async def test_forwarding_lines_from_an_untrusted_peer_are_ignored(
    collector: CollectorFactory,
) -> None:
    c = await collector(trusted_proxies="10.0.0.0/8")
    await raw_http(
        c,
        b"GET /b.gif?s=xff HTTP/1.1",
        [b"X-Forwarded-For: 192.0.2.66", b"X-Forwarded-For: 198.51.100.7"],
    )
    [row] = await c.rows()
    assert row["ip_full"] == "127.0.0.1"
