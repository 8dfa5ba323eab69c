"""Malformed input gets a 4xx with a message (pixels: the GIF), is counted under a clear
reason, and logs no traceback (issue 12, findings 4 and 7)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from ashiato.beacon.gif import TRANSPARENT_GIF
from ashiato.beacon.tokens import EmailToken, sign_token
from ashiato.collector.app import create_app
from ashiato.collector.auth import TokenStore
from ashiato.collector.config import load_config
from ashiato.collector.secrets import load_secrets
from ashiato.storage.backend import Store
from tests.collector.conftest import CollectorFactory, collector
from tests.security.input_support import assert_no_traceback, raw_http, rejected

__all__ = ["collector"]

DEEP = b"[" * 2000 + b"]" * 2000  # past the parser's recursion, within /consent's 4 KiB
NESTED = b"[" * 20 + b"]" * 20  # within it, past the depth limit
HUGE_INT = b"9" * 5000  # past Python's own limit on digits (4300)

# A JSON value for a field, the reason it is refused under, and what the answer says.
BAD_VALUES = [
    pytest.param(b"1e400", "number_overflow", "too large", id="float-overflow"),
    pytest.param(b"-1e400", "number_overflow", "too large", id="negative-overflow"),
    pytest.param(HUGE_INT, "number_overflow", "does not fit in 64 bits", id="huge-int"),
    pytest.param(b"9" * 3000, "number_overflow", "does not fit in 64 bits", id="long-int"),
    pytest.param(b"18446744073709551616", "number_overflow", "64 bits", id="just-past-u64"),
    pytest.param(DEEP, "too_deep", "nested deeper than 16", id="deep"),
    pytest.param(NESTED, "too_deep", "nested deeper than 16", id="nested"),
    pytest.param(b"NaN", "bad_body", "NaN is not a JSON number", id="nan"),
    pytest.param(b"Infinity", "bad_body", "Infinity is not a JSON number", id="infinity"),
    pytest.param(b'"\\ud800"', "lone_surrogate", "lone surrogate", id="lone-surrogate"),
    pytest.param(b'"a\\udc80b"', "lone_surrogate", "lone surrogate", id="low-surrogate"),
]
# A consent body may have 4 KiB, too few for HUGE_INT.
CONSENT_VALUES = [value for value in BAD_VALUES if value.id != "huge-int"]


@pytest.mark.parametrize(("value", "reason", "message"), BAD_VALUES)
async def test_a_beacon_with_a_bad_value_gets_400_and_is_counted(
    collector: CollectorFactory,
    caplog: pytest.LogCaptureFixture,
    value: bytes,
    reason: str,
    message: str,
) -> None:
    c = await collector()
    for body in (
        b'{"s":"a","p":{"k":' + value + b"}}",
        b'{"events":[{"s":"a"},{"s":"a","sw":' + value + b',"sh":1}]}',
    ):
        response = await c.client.post("/b", data=body, headers={"Content-Type": "text/plain"})
        assert response.status == 400
        assert message in await response.text()
    assert rejected(c) == {reason: 2}
    assert await c.rows() == []
    assert_no_traceback(caplog)


@pytest.mark.parametrize(("value", "reason", "message"), CONSENT_VALUES)
async def test_a_consent_body_with_a_bad_value_gets_400_and_is_counted(
    collector: CollectorFactory,
    caplog: pytest.LogCaptureFixture,
    value: bytes,
    reason: str,
    message: str,
) -> None:
    c = await collector()
    response = await c.client.post("/consent", data=b'{"c":"statistics","x":' + value + b"}")
    assert response.status == 400
    assert message in await response.text()
    assert rejected(c) == {reason: 1}
    assert await c.rows() == []
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (DEEP, "too_deep"),
        (NESTED, "too_deep"),
        (HUGE_INT, "number_overflow"),
        (b"1e400", "number_overflow"),
        (b'["\\ud800"]', "lone_surrogate"),  # not one of the byte escapes U+DC80-U+DCFF
    ],
)
@pytest.mark.parametrize("path", ["/admin/report", "/admin/ingest", "/admin/sql"])
async def test_an_admin_body_with_a_bad_value_gets_400_and_is_counted(
    collector: CollectorFactory,
    caplog: pytest.LogCaptureFixture,
    path: str,
    value: bytes,
    reason: str,
) -> None:
    c = await collector()
    plaintext, _ = TokenStore(c.data_dir).create(("admin",))
    response = await c.client.post(
        path,
        data=b'{"lines":["x"],"query":"SELECT 1","x":' + value + b"}",
        headers={"Authorization": f"Bearer {plaintext}"},
    )
    assert response.status == 400
    assert "the body must be a JSON object" in (await response.json())["error"]
    assert rejected(c) == {reason: 1}
    assert_no_traceback(caplog)


async def test_admin_bodies_may_carry_surrogate_escapes_of_log_bytes(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector()
    plaintext, _ = TokenStore(c.data_dir).create(("admin",))
    line = (
        '203.0.113.9 - - [10/Oct/2025:13:55:36 +0000] "GET /caf\udce9 HTTP/1.1" 200 5 "-" "curl/8"'
    )
    response = await c.client.post(
        "/admin/ingest?site=logs",
        data=json.dumps({"lines": [line]}),
        headers={"Authorization": f"Bearer {plaintext}"},
    )
    assert response.status == 200, await response.text()
    [row] = await c.rows("site = 'logs'")
    assert row["url"] == "/caf\ufffd"
    assert_no_traceback(caplog)


# --- pixels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("sw=1e400&sh=1e400", id="float-overflow"),
        pytest.param(f"sw={'9' * 4000}&sh=1", id="huge-int"),
        pytest.param("sw=inf&sh=nan", id="inf-nan"),
    ],
)
async def test_a_pixel_ignores_an_unreadable_screen_size(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    c = await collector()
    response = await c.client.get(f"/b.gif?s=a&c=statistics&{query}")
    assert response.status == 200 and await response.read() == TRANSPARENT_GIF
    [row] = await c.rows()
    assert row["screen"] == ""
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("s=a%00b", id="nul-in-site"),
        pytest.param("s=a%EF%BF%BDb", id="replacement-char-in-site"),
        pytest.param("s=a%FFb", id="not-utf8-in-site"),
        pytest.param("s=a%01b", id="control-in-site"),
        pytest.param("s=a&u=https://a.example/%00", id="nul-in-url"),
        pytest.param("s=a&u=https://a.example/%FF%FE", id="not-utf8-in-url"),
        pytest.param("s=a&u=https://a.example/%E2%80", id="cut-utf8-in-url"),
        pytest.param("s=a&u=https://a.example/%0A", id="newline-in-url"),
        pytest.param("s=a&r=https://b.example/%C2%85", id="c1-in-referrer"),
    ],
)
async def test_a_pixel_with_dirty_text_gets_the_gif_and_stores_nothing(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    c = await collector()
    response = await c.client.get(f"/b.gif?{query}")
    assert response.status == 200 and await response.read() == TRANSPARENT_GIF
    assert await c.rows() == []
    assert rejected(c) == {"bad_text": 1}
    assert_no_traceback(caplog)


async def test_a_beacon_with_dirty_text_gets_400_naming_the_field(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector()
    for event, field in (
        ({"s": "a\x00b"}, "site"),
        ({"s": "a", "u": "https://a.example/\ufffd"}, "url"),
        ({"s": "a", "r": "https://a.example/\x7f"}, "referrer"),
    ):
        response = await c.client.post("/b", data=json.dumps(event))
        assert response.status == 400
        assert f"{field} holds" in await response.text()
    assert rejected(c) == {"bad_text": 3}
    assert await c.rows() == []
    assert_no_traceback(caplog)


async def test_header_text_that_is_not_utf8_is_cleaned_and_stored(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector()
    response = await raw_http(
        c,
        b"GET /b.gif?s=a&c=statistics HTTP/1.1",
        [b"User-Agent: Mozilla/5.0 (\xfc\xe9) \tBot", b"Accept-Language: d\xe9, ja"],
    )
    assert response.status == 200 and response.body == TRANSPARENT_GIF
    body = b'{"s":"a","e":"click"}'
    beacon = await raw_http(
        c,
        b"POST /b HTTP/1.1",
        [b"User-Agent: Caf\xe9", b"Content-Length: %d" % len(body)],
        [body],
    )
    assert beacon.status == 204
    pixel, click = await c.rows()
    assert pixel["user_agent"] == "Mozilla/5.0 (\ufffd\ufffd)  Bot"
    assert click["user_agent"] == "Caf\ufffd"
    assert rejected(c) == {}
    assert_no_traceback(caplog)


async def test_a_visitor_cookie_that_is_not_ours_counts_as_none(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector()
    response = await raw_http(
        c,
        b"GET /b.gif?s=a&c=statistics,personalization HTTP/1.1",
        [b"Cookie: ashiato_vid=caf\xe9"],
    )
    assert response.status == 200 and response.body == TRANSPARENT_GIF
    assert "ashiato_vid=" in response.headers["set-cookie"]  # replaced by a fresh one
    [row] = await c.rows()
    assert row["visitor_id"] is not None
    assert_no_traceback(caplog)


# --- URL length and what aiohttp's parser refuses ----------------------------------------------


async def test_an_overlong_pixel_url_still_gets_the_gif_and_is_counted(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector()
    token = sign_token(
        EmailToken("open", "nov", "r" * 32, int(time.time()) + 60),
        load_secrets(c.data_dir).tokens,
    )
    pad = "y" * 5000  # past max_url_length (4096), within the parser's limit
    for path in (f"/b.gif?s=a&u={pad}", f"/o/{token}.gif?pad={pad}"):
        response = await c.client.get(path)
        assert response.status == 200 and await response.read() == TRANSPARENT_GIF
    other = await c.client.post(f"/consent?s=a&pad={pad}", data=b'{"c":"statistics"}')
    assert other.status == 414
    assert "URL longer than 4096 bytes" in await other.text()
    assert await c.rows() == []
    assert rejected(c) == {"url_too_long": 3}
    assert_no_traceback(caplog)


async def test_max_url_length_is_configurable(
    collector: CollectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    c = await collector(max_url_length=200)
    response = await c.client.get("/b.gif?s=a&u=" + "y" * 300)
    assert response.status == 200 and await response.read() == TRANSPARENT_GIF
    fine = await c.client.get("/b.gif?s=a&u=" + "y" * 100)
    assert fine.status == 200
    [row] = await c.rows()
    assert row["url"] == "y" * 100
    assert rejected(c) == {"url_too_long": 1}
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("request_line", "headers"),
    [
        pytest.param(b"GET /b.gif?s=a&u=caf\xe9 HTTP/1.1", [], id="latin1-in-query"),
        pytest.param(b"GET /b.gif?s=a&u=caf\xc3\xa9 HTTP/1.1", [], id="raw-utf8-in-query"),
        pytest.param(b"GET /o/x\xff.gif HTTP/1.1", [], id="byte-in-open-pixel"),
        pytest.param(b"GET /b.gif?s=a&u=" + b"y" * 9000 + b" HTTP/1.1", [], id="past-parser"),
        pytest.param(b"GET /b.gif?s=a HTTP/1.1", [b"User-Agent: " + b"z" * 9000], id="header"),
        pytest.param(b"GET /b.gif?s=a HTTP/1.1", [b"User-Agent: a\x00b"], id="nul-in-header"),
    ],
)
async def test_what_the_http_parser_refuses_is_counted_without_a_traceback(
    collector: CollectorFactory,
    caplog: pytest.LogCaptureFixture,
    request_line: bytes,
    headers: list[bytes],
) -> None:
    c = await collector()
    response = await raw_http(c, request_line, headers)
    # aiohttp answers these itself, before any handler: no GIF is possible here. Browsers
    # percent-encode URLs, so only hand-made clients send such requests.
    assert response.status == 400
    assert rejected(c) == {"bad_http": 1}
    assert await c.rows() == []
    assert_no_traceback(caplog)
    assert "127.0.0.1" not in caplog.text


async def test_an_unexpected_error_is_counted_and_keeps_its_traceback(
    store: Store,
    tmp_path: Path,
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    config = load_config({"data_dir": str(tmp_path / "var")}, env={})
    app = create_app(config, store=store, registry=registry)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    response = await client.get("/broken")
    assert response.status == 500
    assert registry.get_sample_value("ashiato_rejected_total", {"reason": "internal_error"}) == 1
    assert "RuntimeError: a bug" in caplog.text
