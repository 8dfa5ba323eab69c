"""Expiry drops exactly the partitions past their class's horizon, and nothing else."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ashiato.beacon.event import Event
from ashiato.beacon.vocabulary import RETENTION_CLASSES
from ashiato.retention.expire import expire, monthly_partitions
from ashiato.retention.policy import RetentionPolicy
from ashiato.retention.provisions import record_provision
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend
from ashiato.storage.partitions import list_partitions
from tests.retention.conftest import FailingBackend, at, insert, ms

NOW = at(date(2026, 6, 17), 9)  # a Wednesday
POLICY = RetentionPolicy(
    {
        "necessary": 14,
        "statistics": 60,
        "personalization": 45,
        "marketing": 30,
        "email": 21,
        "audit": 365,
        "provisions": 730,
    }
)
WEEKS = [date(2026, 6, 15) - timedelta(weeks=k) for k in range(12)]  # Mondays
MONTHS = [date(2024, 5, 20), date(2025, 5, 31), date(2025, 6, 1), date(2026, 6, 1)]


def _expected_events() -> set[tuple[str, date]]:
    # Written out from the rule: a week goes once its Sunday ended `days` before now.
    kept = set()
    for cls in RETENTION_CLASSES:
        for week in WEEKS:
            week_end = at(week + timedelta(days=7), 0)
            if week_end > NOW - timedelta(days=POLICY.days_for(cls)):
                kept.add((cls, week))
    return kept


def _fill(backend: Backend) -> None:
    insert(
        backend,
        [
            Event(ts_ms=ms(week + timedelta(days=d)), kind="pageview", retention_class=cls)
            for cls in RETENTION_CLASSES
            for week in WEEKS
            for d in (0, 6)
        ],
    )
    for day in MONTHS:
        record(backend, AuditEntry("tester", "read"), ms(day))
        record_provision(
            backend,
            recipient="ads",
            purpose="ads",
            categories=["stats"],
            aggregate=True,
            actor="tester",
            now=at(day),
        )


def _state(backend: Backend) -> tuple[set[tuple[str, date]], list[int], list[int]]:
    return (
        {(p.retention_class, p.week) for p in list_partitions(backend)},
        [m for m, _ in monthly_partitions(backend, "audit_log")],
        [m for m, _ in monthly_partitions(backend, "provisions")],
    )


def test_expire_drops_exactly_the_expired_partitions(backend: Backend) -> None:
    _fill(backend)
    before = _state(backend)
    planned = expire(backend, POLICY, NOW, dry_run=True)
    assert _state(backend) == before  # a dry run changes nothing

    result = expire(backend, POLICY, NOW)
    events, audit, provisions = _state(backend)
    assert events == _expected_events()
    assert [p.name for p in result.dropped] == [p.name for p in planned.dropped]
    # Every class lost its old weeks only; a boundary week (ends exactly at the horizon) went.
    assert ("necessary", date(2026, 6, 1)) in events
    assert ("necessary", date(2026, 5, 25)) not in events
    assert {c for c, _ in events} == set(RETENTION_CLASSES)
    # audit: 365 days → May 2025 ended before 2025-06-17; June 2025 did not.
    assert audit == [202506, 202606]
    assert provisions == [202505, 202506, 202606]
    assert result.rows == sum(p.rows for p in result.dropped) > 0
    assert backend.query("SELECT count() FROM events").scalar() == 2 * len(events)
    # Running again finds nothing left to do.
    assert expire(backend, POLICY, NOW).dropped == ()


def test_expire_interrupted_half_way_finishes_on_the_next_run(backend: Backend) -> None:
    _fill(backend)
    flaky = FailingBackend(backend, "DROP PARTITION", allowed=3)
    with pytest.raises(ConnectionError):
        expire(flaky, POLICY, NOW)
    half = _state(backend)[0]
    assert _expected_events() < half  # some dropped, not all
    expire(backend, POLICY, NOW)
    assert _state(backend)[0] == _expected_events()


def test_unknown_classes_are_kept_and_reported(backend: Backend) -> None:
    insert(backend, [Event(ts_ms=ms(date(2020, 1, 6)), kind="pageview", retention_class="odd")])
    result = expire(backend, POLICY, NOW)
    assert result.unknown_classes == ("odd",)
    assert backend.query("SELECT count() FROM events").scalar() == 1
