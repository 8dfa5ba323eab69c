"""Consent managers' signals on the pixel and the beacon, rows read back from the real store."""

from __future__ import annotations

import json

import pytest

from ashiato.beacon.gif import TRANSPARENT_GIF
from tests.collector.conftest import CollectorFactory
from tests.tcf_strings import PREBID_ALL, granting


async def test_consent_mode_denied_keeps_only_the_necessary(collector: CollectorFactory) -> None:
    # Under opt-out the default would grant more: the visitor's refusal outweighs it.
    c = await collector(consent_regime="opt-out", opt_out_purposes="statistics,personalization")
    response = await c.client.get("/b.gif?s=a&gcs=G100&l=ja&sw=1920&sh=1080")
    assert await response.read() == TRANSPARENT_GIF
    assert "ashiato_vid" not in response.cookies
    [row] = await c.rows()
    assert (row["purposes"], row["consent_signal"]) == (["necessary"], "gcm")
    assert (row["language"], row["screen"], row["visitor_id"]) == ("", "", None)


async def test_a_tc_string_granting_measurement_stores_statistics(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    tc = granting([1, 7, 8, 9, 10])
    response = await c.client.get(
        "/b.gif",
        params={"s": "a", "gdpr": "1", "gdpr_consent": tc, "l": "ja", "sw": "1920", "sh": "1080"},
    )
    assert "ashiato_vid" not in response.cookies
    [row] = await c.rows()
    assert (row["purposes"], row["consent_signal"]) == (["necessary", "statistics"], "tcf")
    assert (row["language"], row["screen"], row["visitor_id"]) == ("ja", "1920x1080", None)
    assert row["retention_class"] == "statistics"


async def test_a_beacon_event_carries_its_consent_managers_answer(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    events = [
        {"s": "a", "e": "first", "gcd": "13p3r3p3p5"},
        {"s": "a", "e": "signup", "gdpr": "1", "gdpr_consent": PREBID_ALL},
    ]
    response = await c.client.post("/b", data=json.dumps(events))
    assert response.status == 204
    assert "ashiato_vid" in response.cookies
    first, signup = sorted(await c.rows(), key=lambda row: str(row["name"]))
    assert (first["consent_signal"], first["purposes"]) == ("gcm", ["necessary", "statistics"])
    assert first["visitor_id"] is None
    assert (signup["consent_signal"], signup["purposes"]) == (
        "tcf",
        ["necessary", "statistics", "personalization", "marketing"],
    )
    assert signup["visitor_id"] is not None


async def test_the_sites_own_consent_cookie_outweighs_tcf(collector: CollectorFactory) -> None:
    c = await collector()
    c.client.session.cookie_jar.update_cookies({"ashiato_consent": "necessary"})
    await c.client.get("/b.gif", params={"s": "a", "gdpr_consent": PREBID_ALL})
    [row] = await c.rows()
    assert (row["purposes"], row["consent_signal"]) == (["necessary"], "explicit")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"gcs": "G1x1"}, "bad_gcs"),
        ({"gcd": "13z3r3r3r5"}, "bad_gcd"),
        ({"gdpr": "1", "gdpr_consent": PREBID_ALL[:-3]}, "bad_tcf"),
        ({"gdpr": "true", "c": "statistics"}, "bad_tcf"),
    ],
)
async def test_a_malformed_signal_is_counted_and_not_stored(
    collector: CollectorFactory, params: dict[str, str], reason: str
) -> None:
    c = await collector()
    pixel = await c.client.get("/b.gif", params={"s": "a", **params})
    assert pixel.status == 200 and await pixel.read() == TRANSPARENT_GIF
    beacon = await c.client.post("/b", data=json.dumps([{"s": "a"}, {"s": "a", **params}]))
    assert beacon.status == 400
    assert (params.keys() - {"c"}).pop() in await beacon.text()
    assert await c.rows() == []
    assert c.metric("ashiato_rejected_total", {"reason": reason}) == 2
