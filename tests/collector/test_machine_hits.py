"""Machine opens and clicks are stored with the signal that gave them away, people's are not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from ashiato.beacon.tokens import EmailToken, KeyRing, sign_token, verify_token
from ashiato.collector.config import ConfigError, load_config
from ashiato.collector.secrets import load_secrets
from tests.collector.conftest import Collector, CollectorFactory
from tests.collector.test_cli import run_cli
from tests.geo_fixtures import write_database

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SKYPE_PREVIEW = "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5"
HOME = "198.51.100.7"  # in no scanner's network
DEFENDER = "192.0.2.10"  # Microsoft's network in the test ASN database
EXTRA = "203.0.113.10"  # a network named only in the scanner_asns setting
TARGET = "https://shop.example/sale?id=7"


@pytest.fixture
def asn_db(tmp_path: Path) -> Path:
    """A GeoLite2-ASN database placing DEFENDER in Microsoft's AS8075 and EXTRA in AS64500."""
    return write_database(
        tmp_path / "GeoLite2-ASN.mmdb",
        "GeoLite2-ASN",
        {
            "192.0.2.0/24": {
                "autonomous_system_number": 8075,
                "autonomous_system_organization": "MICROSOFT-CORP-MSN-AS-BLOCK",
            },
            "203.0.113.0/24": {
                "autonomous_system_number": 64500,
                "autonomous_system_organization": "Example Mail Filter",
            },
        },
    )


def _ring(c: Collector) -> KeyRing:
    return load_secrets(c.data_dir).tokens


def _token(c: Collector, kind: str, campaign: str, age_seconds: int) -> str:
    """A token made `age_seconds` ago, as `ashiato token` would have made it then."""
    issued = int(time.time()) - age_seconds
    url = TARGET if kind == "click" else ""
    return sign_token(
        EmailToken(kind, campaign, "r" * 32, issued + 86400, url, issued=issued), _ring(c)
    )


def _old_token(c: Collector, campaign: str) -> str:
    """An open token as the collector signed them before tokens carried their issue time."""
    body = json.dumps([1, "open", campaign, "r" * 32, int(time.time()) + 86400])
    ring = _ring(c)
    signed = f"{ring.current}.{_b64(body.encode())}"
    mac = hmac.new(ring.keys[ring.current], signed.encode(), hashlib.sha256).digest()[:16]
    return f"{signed}.{_b64(mac)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_machine_hits_are_flagged_with_their_reason(
    collector: CollectorFactory, asn_db: Path
) -> None:
    c = await collector(
        geoip_asn_db=str(asn_db), trusted_proxies="127.0.0.1/32", scanner_asns="AS64500"
    )

    async def open_(token: str, ip: str, user_agent: str = CHROME) -> None:
        response = await c.client.get(
            f"/o/{token}.gif", headers={"User-Agent": user_agent, "X-Forwarded-For": ip}
        )
        assert response.status == 200

    await open_(_token(c, "open", "soon", 0), HOME)  # fetched as the message arrived
    await open_(_token(c, "open", "network", 3600), DEFENDER)  # Defender, with Chrome's UA
    await open_(_token(c, "open", "extra", 3600), EXTRA)
    await open_(_token(c, "open", "person", 3600), HOME)  # read an hour later, at home
    await open_(_old_token(c, "old"), HOME)  # an old link, opened at once: time unknown
    click = await c.client.get(
        f"/c/{_token(c, 'click', 'preview', 3600)}",
        allow_redirects=False,
        headers={"User-Agent": SKYPE_PREVIEW, "X-Forwarded-For": HOME},
    )
    assert click.status == 302 and click.headers["Location"] == TARGET  # still sent on

    rows = await c.rows()
    assert {(r["campaign"], r["kind"]): r["automated"] for r in rows} == {
        ("soon", "email_open"): "too_soon",
        ("network", "email_open"): "scanner_network",
        ("extra", "email_open"): "scanner_network",
        ("person", "email_open"): "",
        ("old", "email_open"): "",
        ("preview", "email_click"): "fetcher_agent",
    }
    by_campaign = {r["campaign"]: r for r in rows}
    assert by_campaign["network"]["asn"] == 8075
    assert by_campaign["preview"]["is_bot"] == 1


async def test_a_click_right_after_its_link_was_made_is_too_soon(
    collector: CollectorFactory,
) -> None:
    c = await collector(automated_click_seconds=60)
    for campaign, age in (("soon", 30), ("later", 90)):
        await c.client.get(
            f"/c/{_token(c, 'click', campaign, age)}",
            allow_redirects=False,
            headers={"User-Agent": CHROME},
        )
    rows = await c.rows()
    assert {r["campaign"]: r["automated"] for r in rows} == {"soon": "too_soon", "later": ""}


def test_the_token_command_stamps_the_issue_time(tmp_path: Path) -> None:
    data = tmp_path / "var"
    before = int(time.time())
    printed = run_cli(
        *("token", "click", "--data-dir", str(data), "--campaign", "nov"),
        *("--recipient", "ann@example.com", "--url", TARGET),
        check=True,
    ).stdout
    value = printed.strip().rsplit("/", 1)[1]
    token = verify_token(value, load_secrets(data).tokens, now=time.time(), kind="click")
    assert before <= token.issued <= time.time()


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("scanner_asns", "AS8075,Microsoft", "scanner_asns: not an AS number: 'Microsoft'"),
        ("automated_open_seconds", "-1", "automated_open_seconds: must be 0 \\(off\\) or more"),
        ("automated_click_seconds", "nan", "automated_click_seconds: must be 0 \\(off\\) or more"),
    ],
)
def test_bad_automation_settings_fail_with_their_name(
    setting: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({setting: value}, env={})


def test_the_settings_reach_the_rules() -> None:
    rules = load_config(
        {"scanner_asns": "64500, AS64501", "automated_open_seconds": "2"}, env={}
    ).collection.automation_rules
    assert {64500, 64501, 8075} <= rules.scanner_asns
    assert (rules.open_seconds, rules.click_seconds) == (2.0, 10.0)
