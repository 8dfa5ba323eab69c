"""Anonymization clears full IPs, hosts and user agents past the security window only."""

from __future__ import annotations

from datetime import date

import pytest

from ashiato.beacon.event import Event
from ashiato.beacon.netaddr import truncate_ip
from ashiato.retention._ipsql import truncated_ip_sql
from ashiato.retention.anonymize import anonymize
from ashiato.retention.policy import RetentionPolicy
from ashiato.storage.backend import Backend
from ashiato.storage.schema import EVENTS_TABLE
from tests.retention.conftest import FailingBackend, at, insert, ms

NOW = at(date(2026, 6, 15))
POLICY = RetentionPolicy({"full_ip": 7})
OLD, NEW = date(2026, 6, 7), date(2026, 6, 8)  # cutoff: days before 2026-06-08


def _events() -> list[Event]:
    full = dict(user_agent="Mozilla/5.0 (X11; Linux)", browser="Firefox", os="Linux")
    return [
        Event(
            ts_ms=ms(OLD),
            kind="pageview",
            ip="203.0.113.77",
            ip_full="203.0.113.77",
            host="h.example",
            visitor_id="v1",
            **full,
        ),
        Event(
            ts_ms=ms(OLD, 1),
            kind="pageview",
            ip="2001:db8:abcd:12::1",
            ip_full="2001:db8:abcd:12::1",
            **full,
        ),
        Event(ts_ms=ms(OLD, 2), kind="pageview", ip="198.51.100.0", ip_full="198.51.100.9", **full),
        Event(ts_ms=ms(date(2025, 1, 1)), kind="access_log", ip="192.0.2.5", **full),
        Event(ts_ms=ms(OLD, 3), kind="pageview", ip="192.0.2.0"),  # already anonymous
        Event(
            ts_ms=ms(NEW),
            kind="pageview",
            ip="203.0.113.78",
            ip_full="203.0.113.78",
            host="n.example",
            **full,
        ),
    ]


def _rows(backend: Backend) -> dict[str, dict[str, object]]:
    rows = backend.query(f"SELECT * FROM {EVENTS_TABLE}").dicts()
    return {str(r["event_id"]): r for r in rows}


def _assert_anonymized(backend: Backend, events: list[Event]) -> None:
    rows = _rows(backend)
    for event in events:
        row = rows[event.event_id]
        if event.day < NEW:
            assert row["ip_full"] is None and row["host"] is None
            assert row["ip"] == truncate_ip(event.ip) and row["user_agent"] == ""
            assert row["browser"] == event.browser and row["os"] == event.os
        else:
            assert Event.from_row(row) == event


def test_sql_truncation_matches_the_python_truncation(backend: Backend) -> None:
    ips = [
        "203.0.113.77",
        "10.1.2.3",
        "2001:db8:abcd:12::1",
        "2001:db8::",
        "::1",
        "fe80::1:2:3:4",
        "",
        "not an ip",
        "300.1.2.3",
        "1.2.3.0",
    ]
    expr = truncated_ip_sql(backend.capabilities)
    got = backend.query(
        f"SELECT ip, {expr} FROM (SELECT arrayJoin(%(ips)s) AS ip)", {"ips": ips}
    ).rows
    assert {ip: out for ip, out in got} == {ip: truncate_ip(ip) for ip in ips}


def test_anonymize_clears_identifiers_of_old_events_only(backend: Backend) -> None:
    events = _events()
    insert(backend, events)
    planned = anonymize(backend, POLICY, NOW, dry_run=True)
    assert planned.rows == 4
    assert all(Event.from_row(r) in events for r in _rows(backend).values())  # untouched

    result = anonymize(backend, POLICY, NOW)
    assert (result.rows, result.done, result.before_day) == (4, True, "2026-06-08")
    _assert_anonymized(backend, events)
    assert (
        backend.query(
            f"SELECT count() FROM {EVENTS_TABLE} WHERE isNotNull(ip_full) AND day < %(d)s",
            {"d": NEW},
        ).scalar()
        == 0
    )
    assert anonymize(backend, POLICY, NOW).rows == 0


def test_anonymize_interrupted_while_waiting_finishes_on_the_next_run(backend: Backend) -> None:
    events = _events()
    insert(backend, events)
    flaky = FailingBackend(backend, "system.mutations", allowed=1)
    with pytest.raises(ConnectionError):
        anonymize(flaky, POLICY, NOW)
    anonymize(backend, POLICY, NOW)
    _assert_anonymized(backend, events)
    assert anonymize(backend, POLICY, NOW).rows == 0
