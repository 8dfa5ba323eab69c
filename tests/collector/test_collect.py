"""Collection endpoints through aiohttp's test client, rows read back from real ClickHouse."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from ashiato.beacon.gif import TRANSPARENT_GIF
from ashiato.beacon.tokens import EmailToken, KeyRing, sign_token
from ashiato.collector.secrets import load_secrets
from tests.collector.conftest import Collector, CollectorFactory
from tests.geo_fixtures import build_geo_databases

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


async def test_pixel_answers_the_gif_and_stores_the_page_view(collector: CollectorFactory) -> None:
    c = await collector()
    response = await c.client.get(
        "/b.gif",
        params={
            "s": "shop",
            "u": "https://shop.example/a?x=1",
            "r": "https://www.bing.com/search?q=tea+pot",
        },
        headers={"User-Agent": CHROME, "Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"},
    )
    assert response.status == 200
    assert await response.read() == TRANSPARENT_GIF
    assert response.headers["Content-Type"] == "image/gif"
    assert "no-store" in response.headers["Cache-Control"]
    [row] = await c.rows()
    assert (row["kind"], row["site"], row["name"], row["source"]) == (
        "pageview",
        "shop",
        "pageview",
        "pixel",
    )
    assert row["url"] == "https://shop.example/a?x=1"
    assert (row["ref_medium"], row["ref_source"], row["ref_term"]) == ("search", "bing", "tea pot")
    assert (row["browser"], row["os"], row["device"], row["is_bot"]) == (
        "Chrome",
        "Windows",
        "desktop",
        0,
    )
    assert c.metric("ashiato_hits_total", {"kind": "pageview", "consent": "necessary"}) == 1


async def test_the_page_url_defaults_to_the_referer_header(collector: CollectorFactory) -> None:
    c = await collector()
    await c.client.get("/b.gif?s=a&e=signup", headers={"Referer": "https://a.example/p"})
    [row] = await c.rows()
    assert (row["kind"], row["name"], row["url"]) == ("event", "signup", "https://a.example/p")


async def test_a_japanese_search_referrer_keeps_its_keyword(collector: CollectorFactory) -> None:
    c = await collector()
    referrer = "https://search.yahoo.co.jp/search?p=%E6%9D%B1%E4%BA%AC+%E3%83%A9%E3%83%BC%E3%83%A1%E3%83%B3&ei=UTF-8"
    await c.client.get("/b.gif", params={"s": "a", "u": "https://a.jp/", "r": referrer})
    [row] = await c.rows()
    assert (row["ref_medium"], row["ref_source"], row["ref_term"]) == (
        "search",
        "yahoo_japan",
        "東京 ラーメン",
    )


@pytest.mark.parametrize(
    "query",
    ["s=other&u=x", "s=shop&e=" + "x" * 200, "s=shop&e=%3Cscript%3E", "s=%FF%FE&u=%C0"],
)
async def test_garbage_still_gets_the_gif_and_is_counted_not_stored(
    collector: CollectorFactory, query: str
) -> None:
    c = await collector(sites="shop")
    response = await c.client.get("/b.gif?" + query)
    assert response.status == 200 and await response.read() == TRANSPARENT_GIF
    assert await c.rows() == []
    rejected = sum(
        c.metric("ashiato_rejected_total", {"reason": r})
        for r in ("unknown_site", "bad_event_name")
    )
    assert rejected == 1


# --- consent ----------------------------------------------------------------------------------


async def test_no_signal_under_opt_in_keeps_no_identifier(collector: CollectorFactory) -> None:
    c = await collector()
    response = await c.client.get("/b.gif?s=a&u=https://a.example/")
    assert "ashiato_vid" not in response.cookies
    [row] = await c.rows()
    assert row["purposes"] == ["necessary"] and row["consent_signal"] == "default"
    assert row["visitor_id"] is None
    assert row["ip"] == "127.0.0.0" and row["ip_full"] == "127.0.0.1"
    assert row["retention_class"] == "necessary" and row["policy_version"] == "1"


async def test_explicit_personalization_sets_the_cookie_and_a_keyed_visitor_id(
    collector: CollectorFactory,
) -> None:
    c = await collector(cookie_secure="true", policy_version="2024-04")
    response = await c.client.get("/b.gif?s=a&c=statistics,personalization")
    cookie = response.cookies["ashiato_vid"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 395 * 86400
    [row] = await c.rows()
    key = load_secrets(c.data_dir).visitor_key
    expected = hmac.new(key, cookie.value.encode(), hashlib.sha256).hexdigest()[:32]
    assert row["visitor_id"] == expected != cookie.value
    assert row["purposes"] == ["necessary", "statistics", "personalization"]
    assert (row["consent_signal"], row["policy_version"], row["retention_class"]) == (
        "explicit",
        "2024-04",
        "personalization",
    )
    # The README's consent table: the full IP only in ip_full, whatever the purposes.
    assert (row["ip"], row["ip_full"]) == ("127.0.0.0", "127.0.0.1")


@pytest.mark.parametrize(("header", "signal"), [("Sec-GPC", "gpc"), ("DNT", "dnt")])
async def test_gpc_and_dnt_mean_necessary_only_even_under_opt_out(
    collector: CollectorFactory, header: str, signal: str
) -> None:
    c = await collector(consent_regime="opt-out", opt_out_purposes="statistics,personalization")
    response = await c.client.get("/b.gif?s=a", headers={header: "1"})
    assert "ashiato_vid" not in response.cookies
    [row] = await c.rows()
    assert (row["purposes"], row["consent_signal"], row["visitor_id"]) == (
        ["necessary"],
        signal,
        None,
    )
    assert row["ip"] == "127.0.0.0"


async def test_opt_out_regime_grants_its_defaults(collector: CollectorFactory) -> None:
    c = await collector(consent_regime="opt-out", opt_out_purposes="statistics,personalization")
    response = await c.client.get("/b.gif?s=a")
    assert "ashiato_vid" in response.cookies
    [row] = await c.rows()
    assert row["consent_signal"] == "default" and row["visitor_id"] is not None


async def test_an_explicit_value_beats_gpc(collector: CollectorFactory) -> None:
    c = await collector()
    await c.client.get("/b.gif?s=a&c=statistics", headers={"Sec-GPC": "1"})
    [row] = await c.rows()
    assert (row["purposes"], row["consent_signal"]) == (["necessary", "statistics"], "explicit")


async def test_withdrawal_clears_the_visitor_cookie(collector: CollectorFactory) -> None:
    c = await collector()
    granted = await c.client.post(
        "/consent",
        data=json.dumps({"c": "statistics,personalization"}),
        headers={"Content-Type": "text/plain"},
    )
    assert granted.status == 200
    assert granted.cookies["ashiato_consent"].value == "necessary.statistics.personalization"
    assert "ashiato_vid" in granted.cookies
    state = await (await c.client.get("/consent")).json()
    assert state["purposes"] == ["necessary", "statistics", "personalization"]
    assert state["signal"] == "explicit" and state["visitor_cookie"]
    await c.client.get("/b.gif?s=a")
    withdrawn = await c.client.post("/consent", data=json.dumps({"c": ""}))
    assert withdrawn.cookies["ashiato_vid"].value == ""
    assert (await withdrawn.json())["purposes"] == ["necessary"]
    await c.client.get("/b.gif?s=a")
    rows = await c.rows()
    assert [(r["kind"], r["name"]) for r in rows] == [
        ("consent", "grant"),
        ("pageview", "pageview"),
        ("consent", "withdraw"),
        ("pageview", "pageview"),
    ]
    assert rows[1]["visitor_id"] is not None and rows[0]["visitor_id"] == rows[1]["visitor_id"]
    assert rows[2]["visitor_id"] == rows[1]["visitor_id"]  # the withdrawal names the browser
    assert rows[3]["visitor_id"] is None and rows[3]["purposes"] == ["necessary"]


async def test_a_member_id_is_never_taken_from_a_browser(collector: CollectorFactory) -> None:
    c = await collector()
    await c.client.get("/b.gif?s=a&member_id=m1&m=m1&c=marketing,personalization")
    await c.client.post("/b", data=json.dumps({"s": "a", "member_id": "m1", "m": "m1"}))
    assert [r["member_id"] for r in await c.rows()] == [None, None]


# --- client address ---------------------------------------------------------------------------


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    await c.client.get("/b.gif?s=a", headers={"X-Forwarded-For": "203.0.113.9"})
    [row] = await c.rows()
    assert row["ip_full"] == "127.0.0.1"


async def test_forwarded_headers_from_a_trusted_proxy_give_the_client(
    collector: CollectorFactory,
) -> None:
    c = await collector(trusted_proxies="127.0.0.0/8")
    spoof = {"Forwarded": "for=192.0.2.66"}  # a client's own header, passed on by the proxy
    await c.client.get(
        "/b.gif?s=a", headers={"X-Forwarded-For": "198.51.100.7, 127.0.0.2", **spoof}
    )
    rows = await c.rows()
    assert [(r["ip"], r["ip_full"]) for r in rows] == [("198.51.100.0", "198.51.100.7")]


async def test_rfc7239_forwarded_when_the_proxy_sets_it(collector: CollectorFactory) -> None:
    c = await collector(trusted_proxies="127.0.0.0/8", forwarded_header="forwarded")
    await c.client.get(
        "/b.gif?s=a",
        headers={"Forwarded": 'for="[2001:db8:cafe::17]:4711"', "X-Forwarded-For": "192.0.2.66"},
    )
    rows = await c.rows()
    assert [(r["ip"], r["ip_full"]) for r in rows] == [("2001:db8:cafe::", "2001:db8:cafe::17")]


# --- sendBeacon -------------------------------------------------------------------------------


async def test_beacon_accepts_one_event_or_a_batch(collector: CollectorFactory) -> None:
    c = await collector()
    one = {"s": "a", "u": "https://a.example/", "e": "pageview", "l": "ja-JP", "sw": 390, "sh": 844}
    assert (
        await c.client.post("/b", data=json.dumps(one), headers={"Content-Type": "text/plain"})
    ).status == 204
    batch = {"events": [{"s": "a", "e": "click", "p": {"id": "x"}}, {"s": "a", "e": "scroll"}]}
    assert (await c.client.post("/b", json=batch)).status == 204
    rows = await c.rows()
    assert [(r["name"], r["source"]) for r in rows][:1] == [("pageview", "beacon")]
    assert sorted(r["name"] for r in rows) == ["click", "pageview", "scroll"]
    assert rows[0]["language"] == "" and rows[0]["screen"] == ""  # necessary only: no device detail
    click = next(r for r in rows if r["name"] == "click")
    assert json.loads(click["props"]) == {"id": "x"}


async def test_beacon_keeps_language_and_screen_with_statistics_consent(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    body = {"s": "a", "c": "statistics", "l": "ja-JP", "sw": 390, "sh": 844}
    await c.client.post("/b", data=json.dumps(body))
    [row] = await c.rows()
    assert (row["language"], row["screen"]) == ("ja-jp", "390x844")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b'"a string"', "expected a JSON object"),
        (b'{"s": 5}', "field 's' must be a string"),
        (b'{"events": {}}', "'events' must be a list"),
        (b"[]", "no events"),
        (json.dumps([{"s": "a"}] * 26).encode(), "at most 25 events"),
        (b'{"s": "a", "e": "two words"}', "event name must match"),
        (b'{"s": "a", "p": [1]}', "field 'p' must be an object"),
    ],
)
async def test_a_malformed_beacon_gets_400_saying_what_is_wrong(
    collector: CollectorFactory, body: bytes, message: str
) -> None:
    c = await collector()
    response = await c.client.post("/b", data=body, headers={"Content-Type": "text/plain"})
    assert response.status == 400
    assert message in await response.text()
    assert await c.rows() == []
    assert c.metric("ashiato_rejected_total", {"reason": "bad_body"}) == 1


async def test_an_oversized_beacon_gets_413(collector: CollectorFactory) -> None:
    c = await collector()
    body = json.dumps({"s": "a", "p": {"x": "y" * 70_000}})
    response = await c.client.post("/b", data=body, headers={"Content-Type": "text/plain"})
    assert response.status == 413
    assert await c.rows() == []


async def test_oversized_urls_and_headers_are_refused_without_a_crash(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    long_url = await c.client.get("/b.gif?s=a&u=" + "x" * 20_000)
    assert 400 <= long_url.status < 500
    huge_header = await c.client.get("/b.gif?s=a", headers={"User-Agent": "x" * 20_000})
    assert 400 <= huge_header.status < 500
    fine = await c.client.get("/b.gif?s=a&u=" + "y" * 3000, headers={"User-Agent": "z" * 3000})
    assert fine.status == 200
    [row] = await c.rows()
    assert len(row["url"]) == 2048 and len(row["user_agent"]) == 512


# --- e-mail -----------------------------------------------------------------------------------


def _ring(c: Collector) -> KeyRing:
    return load_secrets(c.data_dir).tokens


async def test_a_valid_open_token_records_the_open(collector: CollectorFactory) -> None:
    c = await collector()
    token = sign_token(EmailToken("open", "nov", "r" * 32, int(time.time()) + 60), _ring(c))
    response = await c.client.get(f"/o/{token}.gif", headers={"User-Agent": CHROME})
    assert await response.read() == TRANSPARENT_GIF
    proxied = await c.client.get(f"/o/{token}.gif", headers={"User-Agent": GMAIL_PROXY})
    assert await proxied.read() == TRANSPARENT_GIF
    apple = await c.client.get(f"/o/{token}.gif", headers={"User-Agent": "Mozilla/5.0"})
    assert apple.status == 200
    rows = await c.rows()
    assert [(r["kind"], r["campaign"], r["recipient"], r["retention_class"]) for r in rows] == [
        ("email_open", "nov", "r" * 32, "email")
    ] * 3
    assert [r["automated"] for r in rows] == ["", "mail_proxy", "mail_proxy"]


async def test_forged_tampered_expired_and_wrong_key_opens_record_nothing(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    ring = _ring(c)
    good = sign_token(EmailToken("open", "nov", "r" * 32, int(time.time()) + 60), ring)
    key_id, payload, mac = good.split(".")
    other = KeyRing({"k1": b"another-secret-0123456789"}, "k1")
    attempts = [
        "garbage",
        f"{key_id}.{payload[:-2]}xx.{mac}",
        f"{key_id}.{payload}.{mac[:-2]}AA",
        sign_token(EmailToken("open", "nov", "r" * 32, int(time.time()) - 1), ring),
        sign_token(EmailToken("open", "nov", "r" * 32, int(time.time()) + 60), other),
        f"k9.{payload}.{mac}",
        sign_token(
            EmailToken("click", "nov", "r" * 32, int(time.time()) + 60, "https://a.example/"), ring
        ),
    ]
    for token in attempts:
        response = await c.client.get(f"/o/{token}.gif")
        assert response.status == 200 and await response.read() == TRANSPARENT_GIF
    assert await c.rows() == []
    assert c.metric("ashiato_rejected_total", {"reason": "bad_token"}) == len(attempts)


async def test_a_valid_click_redirects_to_the_url_in_the_token(collector: CollectorFactory) -> None:
    c = await collector()
    target = "https://shop.example/sale?id=7&q=%E6%97%A5%E6%9C%AC"
    token = sign_token(
        EmailToken("click", "nov", "r" * 32, int(time.time()) + 60, target), _ring(c)
    )
    response = await c.client.get(
        f"/c/{token}", allow_redirects=False, headers={"User-Agent": CHROME}
    )
    assert response.status == 302
    assert response.headers["Location"] == target
    scanner = await c.client.get(
        f"/c/{token}", allow_redirects=False, headers={"User-Agent": "curl/8.5.0"}
    )
    assert scanner.status == 302
    rows = await c.rows()
    assert sorted((r["kind"], r["target_url"], r["automated"]) for r in rows) == [
        ("email_click", target, ""),
        ("email_click", target, "link_scanner"),
    ]


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "https://evil.example",
        "%2F%2Fevil.example",
        "%2f%2fEvil.Example",
        "HtTpS:%2F%2Fevil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "%6A%61%76%61script:alert(1)",
        "k1.e30.AAAAAAAAAAAAAAAAAAAAAA",
        "",
    ],
)
async def test_a_bad_click_token_gets_404_and_no_redirect(
    collector: CollectorFactory, path: str
) -> None:
    c = await collector()
    response = await c.client.get("/c/" + path, allow_redirects=False)
    assert response.status == 404
    assert "Location" not in response.headers
    assert await c.rows() == []


async def test_tracker_script_is_served_cacheable(collector: CollectorFactory) -> None:
    c = await collector()
    response = await c.client.get("/t.js")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert "max-age" in response.headers["Cache-Control"]
    assert len(await response.read()) > 0


async def test_geo_enrichment_from_configured_maxmind_databases(
    collector: CollectorFactory, tmp_path: Path
) -> None:
    city, asn = build_geo_databases(tmp_path)
    c = await collector(
        geoip_city_db=str(city), geoip_asn_db=str(asn), trusted_proxies="127.0.0.1/32"
    )
    await c.client.get("/b.gif?s=a&c=statistics", headers={"X-Forwarded-For": "203.0.113.50"})
    await c.client.get("/b.gif?s=a", headers={"X-Forwarded-For": "2001:db8::1"})
    rows = await c.rows()
    assert [(r["country"], r["city"], r["asn"], r["as_org"]) for r in rows] == [
        ("JP", "Tokyo", 64500, "Example Net"),
        ("DE", "", 64501, "Beispiel AG"),
    ]


async def test_reverse_dns_names_arrive_without_delaying_the_first_hit(
    collector: CollectorFactory,
) -> None:
    c = await collector(reverse_dns="true")
    first = await c.client.get("/b.gif?s=a")
    assert first.status == 200
    for _ in range(50):
        await asyncio.sleep(0.05)
        await c.client.get("/b.gif?s=a")
        rows = await c.rows()
        if rows[-1]["host"]:
            break
    assert rows[0]["host"] is None
    assert rows[-1]["host"] == "localhost"


async def test_email_opt_out_asks_first_then_records_a_lasting_opt_out(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    token = sign_token(EmailToken("optout", "nov", "r" * 32, int(time.time()) + 60), _ring(c))
    page = await c.client.get(f"/u/{token}")  # what a link scanner's prefetch does
    assert page.status == 200 and '<form method="post">' in await page.text()
    assert await c.rows() == []
    done = await c.client.post(f"/u/{token}", data="List-Unsubscribe=One-Click")
    assert done.status == 200 and "Unsubscribed" in await done.text()
    [row] = await c.rows()
    # The opt-out itself is a suppression (tests/collector/test_optouts.py); the event only
    # counts it for the campaign.
    assert (row["kind"], row["name"], row["campaign"], row["recipient"]) == (
        "consent",
        "email_opt_out",
        "nov",
        None,
    )
    assert (row["purposes"], row["consent_signal"]) == (["necessary"], "explicit")
    click = sign_token(
        EmailToken("click", "nov", "r" * 32, int(time.time()) + 60, "https://a.example/"), _ring(c)
    )
    for bad in (click, "forged"):
        assert (await c.client.post(f"/u/{bad}")).status == 404
    assert len(await c.rows()) == 1


# --- silent acceptance ------------------------------------------------------------------------


async def test_a_pixel_or_beacon_without_a_site_is_refused_and_counted(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    bare = await c.client.get("/b.gif")
    assert bare.status == 200 and await bare.read() == TRANSPARENT_GIF
    posted = await c.client.post("/b", data=json.dumps({"u": "https://a.example/"}))
    assert posted.status == 400 and "site" in await posted.text()
    assert c.metric("ashiato_rejected_total", {"reason": "no_site"}) == 2
    assert await c.rows() == []


async def test_unknown_purposes_are_counted_on_hits_and_refused_by_consent(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    await c.client.get("/b.gif?s=a&c=statistics,analytics")
    [row] = await c.rows()
    assert row["purposes"] == ["necessary", "statistics"]
    assert c.metric("ashiato_warnings_total", {"reason": "unknown_purpose"}) == 1
    refused = await c.client.post("/consent", data=json.dumps({"c": "statistics,ads", "s": "a"}))
    assert refused.status == 400
    assert "unknown purpose 'ads'" in await refused.text()
    assert c.metric("ashiato_rejected_total", {"reason": "unknown_purpose"}) == 1


async def test_consent_is_stored_on_change_only_and_with_its_site(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    body = json.dumps({"c": "statistics", "s": "shop"})
    first = await c.client.post("/consent", data=body)
    assert (await first.json())["changed"] is True
    again = await c.client.post("/consent", data=body)  # the next page load says the same
    assert (await again.json())["changed"] is False
    withdrawn = await c.client.post("/consent", data=json.dumps({"c": "", "s": "shop"}))
    assert (await withdrawn.json())["changed"] is True
    rows = await c.rows("kind = 'consent'")
    assert [(r["name"], r["site"]) for r in rows] == [("grant", "shop"), ("withdraw", "shop")]
    anonymous = await c.client.post("/consent", data=json.dumps({"c": "statistics"}))
    assert anonymous.status == 200
    assert c.metric("ashiato_warnings_total", {"reason": "no_site"}) == 1
