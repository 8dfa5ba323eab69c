"""Individual rights: export, erase (down to the disk), suppression, provisions, audit."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from ashiato.beacon.event import Event
from ashiato.retention.errors import SubjectSuppressed
from ashiato.retention.link import SUPPRESSED, identify
from ashiato.retention.members import register_member
from ashiato.retention.rights import (
    audit_entries,
    erase,
    export,
    is_suppressed,
    record_provision,
    suppress,
    suppressions,
    unsuppress,
)
from ashiato.storage.backend import Backend
from ashiato.storage.schema import EVENTS_TABLE
from tests.retention.conftest import at, insert, ms

DAY = date(2026, 6, 1)
NOW = at(date(2026, 6, 10))
MARKETING = ("necessary", "statistics", "personalization", "marketing")
TABLES = (EVENTS_TABLE, "identity_links", "members", "provisions")


def _short_part_lifetime(backend: Backend) -> None:
    # Inactive parts stay on disk for old_parts_lifetime (480 s on a server by default);
    # the tables are recreated with 1 s so the test can watch physical removal complete.
    for table in TABLES:
        ddl = str(backend.query(f"SHOW CREATE TABLE {table}").scalar())
        ddl = re.sub(r"SETTINGS (.*)$", r"SETTINGS \1, old_parts_lifetime = 1", ddl.strip())
        backend.execute(f"DROP TABLE {table}")
        backend.execute(ddl)


def _ev(hour: int, **fields: object) -> Event:
    base: dict[str, object] = {"ts_ms": ms(DAY, hour), "kind": "pageview"}
    return Event(**{**base, **fields})  # type: ignore[arg-type]


def _setup(backend: Backend) -> dict[str, list[Event]]:
    mine = [
        _ev(1, visitor_id="v1", purposes=MARKETING, retention_class="marketing"),
        _ev(2, visitor_id="v1", kind="consent", purposes=MARKETING, retention_class="marketing"),
        _ev(3, member_id="m1", retention_class="necessary"),
    ]
    mail = [_ev(4, kind="email_open", recipient="r1", retention_class="email")]
    others = [
        _ev(1, visitor_id="v2", purposes=MARKETING, retention_class="marketing"),
        _ev(2, member_id="m2", visitor_id="v2", purposes=MARKETING, retention_class="marketing"),
        _ev(3, kind="email_open", recipient="r2", retention_class="email"),
        _ev(1, retention_class="marketing"),  # no visitor, member or recipient
        _ev(5),
        _ev(6, retention_class="email", kind="email_open"),
    ]
    insert(backend, [*mine, *mail, *others])
    register_member(backend, "m1", True, ["marketing"], at(DAY))
    register_member(backend, "m2", True, ["marketing"], at(DAY))
    assert identify(backend, "m1", "v1", "site", NOW).linked
    assert identify(backend, "m2", "v2", "site", NOW).linked
    suppress(backend, "member", "m1", "officer", "paused", now=at(DAY, 1))
    unsuppress(backend, "member", "m1", "officer", "resumed", now=at(DAY, 2))
    record_provision(
        backend,
        recipient="partner",
        purpose="delivery",
        categories=["address"],
        member_ids=["m1", "m2"],
        actor="officer",
        now=at(DAY),
    )
    record_provision(
        backend,
        recipient="partner",
        purpose="stats",
        categories=["counts"],
        aggregate=True,
        actor="officer",
        now=at(DAY),
    )
    return {"mine": mine, "mail": mail, "others": others}


def test_export_holds_every_category_and_nothing_of_others(backend: Backend) -> None:
    events = _setup(backend)
    records = export(backend, member="m1", actor="officer", reason="request 17")
    by = {c: [r for r in records if r["category"] == c] for c in {r["category"] for r in records}}
    assert {r["event_id"] for r in by["event"]} == {
        events["mine"][0].event_id,
        events["mine"][2].event_id,
    }
    assert {r["origin"] for r in by["consent"]} == {"event", "member"}
    assert [r["action"] for r in by["link"]] == ["link"]
    assert [r["purpose"] for r in by["provision"]] == ["delivery"]
    assert [(r["purpose"], r["suppressed"]) for r in by["suppression"]] == [("", 1), ("", 0)]
    summary = records[-1]
    assert summary["category"] == "summary"
    assert summary["counts"] == {
        "event": 2,
        "consent": 2,
        "link": 1,
        "provision": 1,
        "suppression": 2,
    }
    assert summary["retention_days"]["statistics"] == 395
    text = json.dumps(records)  # JSON-able, and no other subject in it
    for other in ("v2", "m2", "r2", "r1"):
        assert f'"{other}"' not in text
    mail = export(backend, recipient="r1", actor="officer", reason="request 18")
    assert [r["event_id"] for r in mail if r["category"] == "event"] == [events["mail"][0].event_id]
    assert [e["action"] for e in audit_entries(backend)].count("export") == 2


def _rows(backend: Backend, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in backend.query(sql).rows]


def _count(backend: Backend, where: str) -> int:
    return int(backend.query(f"SELECT count() FROM {EVENTS_TABLE} WHERE {where}").scalar())


def test_erase_removes_the_subject_everywhere_down_to_the_disk(backend: Backend) -> None:
    _short_part_lifetime(backend)
    events = _setup(backend)
    result = erase(
        backend, member="m1", recipient="r1", actor="officer", reason="request 19", timeout=90
    )
    assert result.rows[EVENTS_TABLE] == len(events["mine"]) + len(events["mail"])
    assert (result.deleted, result.rows_remaining) == (True, 0)
    assert result.physical == "yes", result.pending_parts
    subject = (
        "(isNotNull(visitor_id) AND assumeNotNull(visitor_id) = 'v1')"
        " OR (isNotNull(member_id) AND assumeNotNull(member_id) = 'm1')"
        " OR (isNotNull(recipient) AND assumeNotNull(recipient) = 'r1')"
    )
    assert _count(backend, subject) == 0
    left = {str(r[0]) for r in backend.query(f"SELECT event_id FROM {EVENTS_TABLE}").rows}
    assert left == {e.event_id for e in events["others"]}  # NULL ids survive too
    assert _count(backend, "isNull(visitor_id) AND isNull(member_id) AND isNull(recipient)") == 3
    # Nothing of the subject in any part still on disk (deleted rows included).
    masked = " SETTINGS apply_deleted_mask = 0" if backend.capabilities.lightweight_delete else ""
    assert _count(backend, f"{subject}{masked}") == 0
    assert _rows(backend, "SELECT member_id FROM members") == [("m2",)]
    assert _rows(backend, "SELECT member_id, visitor_id FROM identity_links") == [("m2", "v2")]
    provided = "SELECT member_id, aggregate FROM provisions ORDER BY aggregate"
    assert _rows(backend, provided) == [("m2", 0), (None, 1)]
    after = suppressions(backend)
    for subject_type, subject in (("member", "m1"), ("visitor", "v1"), ("recipient", "r1")):
        assert after.held_directly(subject_type, subject, "")
    assert not after.covers("member", "m2")
    erased = [e for e in audit_entries(backend) if e["action"] == "erase"]
    assert {(e["subject_type"], e["subject"]) for e in erased} == {
        ("member", "m1"),
        ("recipient", "r1"),
    }
    assert identify(backend, "m1", "v1", "site", NOW).reason == SUPPRESSED
    again = erase(backend, member="m1", recipient="r1", actor="officer", reason="retry")
    assert sum(again.rows.values()) == 0 and again.physically_removed


def test_erasing_a_visitor_keeps_rows_with_null_visitor_ids(backend: Backend) -> None:
    events = _setup(backend)
    # A short wait: the deletes finish within it, physical removal is left pending.
    result = erase(backend, visitor="v2", actor="officer", reason="cookie request", timeout=5)
    assert result.deleted and result.rows[EVENTS_TABLE] == 2
    assert _count(backend, "isNull(visitor_id)") == 6
    assert _count(backend, "1") == len(events["mine"]) + len(events["mail"]) + 4
    assert is_suppressed(backend, "visitor", "v2")
    assert not is_suppressed(backend, "member", "m2")


def test_suppression_and_the_provision_ledger(backend: Backend) -> None:
    assert not is_suppressed(backend, "member", "m9")
    suppress(backend, "member", "m9", "officer", "objection", now=at(DAY, 1))
    assert is_suppressed(backend, "member", "m9")
    with pytest.raises(SubjectSuppressed):
        record_provision(
            backend, recipient="x", purpose="y", categories=[], member_ids=["m9"], actor="officer"
        )
    with pytest.raises(ValueError, match="either"):
        record_provision(backend, recipient="x", purpose="y", categories=[], actor="officer")
    unsuppress(backend, "member", "m9", "officer", "resumed", now=at(DAY, 2))
    assert len(suppressions(backend)) == 0
    assert (
        record_provision(
            backend,
            recipient="x",
            purpose="y",
            categories=["a"],
            member_ids=["m9", "m8"],
            actor="officer",
        )
        == 2
    )
    actions = [e["action"] for e in audit_entries(backend, at(DAY, 0))]
    assert actions == ["suppress", "unsuppress", "provision"]
    assert audit_entries(backend, at(date(2100, 1, 1))) == []
