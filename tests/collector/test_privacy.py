"""The privacy admin API on real ClickHouse: identify, scopes and the audit trail, suppression,
retention runs. The storage side of each right is tested in tests/retention."""

from __future__ import annotations

import json
from typing import Any

from ashiato.collector.auth import TokenStore
from tests.collector.conftest import Collector, CollectorFactory

MARKETING = "statistics,personalization,marketing"


def _token(c: Collector, *scopes: str) -> dict[str, str]:
    plaintext, _ = TokenStore(c.data_dir).create(scopes)
    return {"Authorization": f"Bearer {plaintext}"}


async def _post(c: Collector, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await c.client.post(path, data=json.dumps(body), headers=headers)
    return response.status, await response.json()


async def _browse(c: Collector, consent: str) -> str:
    """One page view from a fresh browser; returns its visitor cookie."""
    c.client.session.cookie_jar.clear()
    response = await c.client.get(f"/b.gif?s=shop&c={consent}")
    return response.cookies["ashiato_vid"].value


async def test_identify_links_only_registered_members_who_allow_marketing(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    admin = _token(c, "admin")
    consenting = await _browse(c, MARKETING)
    personal_only = await _browse(c, "statistics,personalization")
    await c.rows()
    assert (await _post(c, "/admin/members", {"member": "m1", "purposes": "marketing"}, admin))[
        0
    ] == 200
    await _post(c, "/admin/members", {"member": "m2", "purposes": "statistics"}, admin)
    await _post(
        c, "/admin/members", {"member": "m3", "registered": False, "purposes": "marketing"}, admin
    )

    cases = [
        ("m1", consenting, True, "linked"),
        ("m1", consenting, True, "already linked"),
        ("m2", consenting, False, "member has not consented to marketing"),
        ("m3", consenting, False, "member not registered"),
        ("m9", consenting, False, "member not registered"),
        ("m1", personal_only, False, "visitor has not consented to marketing"),
    ]
    for member, cookie, linked, reason in cases:
        status, body = await _post(
            c, "/admin/identify", {"member": member, "visitor_cookie": cookie}, admin
        )
        assert (status, body["linked"], body["reason"]) == (200, linked, reason), member

    status, body = await _post(
        c,
        "/admin/unlink",
        {"member": "m1", "visitor_cookie": consenting, "reason": "wrong account"},
        admin,
    )
    assert (status, body["reason"]) == (200, "unlinked")


async def test_a_read_only_token_cannot_export_or_erase_and_each_attempt_is_audited(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    reader = _token(c, "read")
    for path in ("/admin/subject/export", "/admin/subject/erase"):
        status, body = await _post(c, path, {"member": "m1", "reason": "x"}, reader)
        assert status == 403 and "scope" in body["error"]
    status, _ = await _post(
        c,
        "/admin/subject/export",
        {"member": "m1", "reason": "x"},
        {"Authorization": "Bearer nonsense"},
    )
    assert status == 401
    status, entries = await _post(c, "/admin/audit", {}, reader)
    assert status == 200
    denied = [e["action"] for e in entries if e["action"].startswith("denied:")]
    assert denied == ["denied:export", "denied:erase"]


async def test_a_suppressed_visitor_keeps_no_identifier_until_unsuppressed(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    erase = _token(c, "erase")
    cookie = await _browse(c, "statistics,personalization")
    status, done = await _post(
        c, "/admin/subject/suppress", {"visitor_cookie": cookie, "reason": "objection"}, erase
    )
    assert status == 200 and done[0]["suppressed"] is True
    await c.client.get("/b.gif?s=shop&c=statistics,personalization")
    await _post(
        c, "/admin/subject/unsuppress", {"visitor_cookie": cookie, "reason": "lifted"}, erase
    )
    await c.client.get("/b.gif?s=shop&c=statistics,personalization")
    rows = await c.rows("kind = 'pageview'")
    assert [r["visitor_id"] is not None for r in rows] == [True, False, True]


async def test_retention_runs_through_the_api_and_reports_metrics(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    admin = _token(c, "admin")
    await c.client.get("/b.gif?s=shop")
    await c.rows()
    status, result = await _post(
        c, "/admin/retention/run", {"job": "all", "now": "2027-06-01T00:00:00+00:00"}, admin
    )
    assert status == 200
    assert [p["table"] for p in result["expire"]["dropped"]] == ["events_data"]
    assert await c.rows() == []
    assert c.metric("ashiato_retention_last_success_timestamp_seconds", {"job": "expire"}) > 0
    assert c.metric("ashiato_retention_rows_total", {"job": "expire"}) == 1
    status, body = await _post(c, "/admin/retention/run", {"job": "everything"}, admin)
    assert status == 400 and "'job' must be one of" in body["error"]


async def test_identify_right_after_consent_sees_the_consent(collector: CollectorFactory) -> None:
    # Batches wait 5 s, far longer than the site's backend waits before it calls identify.
    c = await collector(batch_ms=5000)
    admin = _token(c, "admin")
    for member in ("m1", "m2"):
        await _post(c, "/admin/members", {"member": member, "purposes": "marketing"}, admin)
    response = await c.client.post("/consent", json={"c": MARKETING})
    cookie = response.cookies["ashiato_vid"].value
    status, body = await _post(
        c, "/admin/identify", {"member": "m1", "visitor_cookie": cookie}, admin
    )
    assert (status, body["linked"], body["reason"]) == (200, True, "linked")
    # A withdrawal just acknowledged counts as at once as well.
    await c.client.post("/consent", json={"c": "statistics,personalization"})
    status, body = await _post(
        c, "/admin/identify", {"member": "m2", "visitor_cookie": cookie}, admin
    )
    assert (status, body["reason"]) == (200, "visitor has not consented to marketing")
