"""The storage contract, run against a real clickhouse-server and against chdb.

Test ids end in [server] or [embedded] so the output shows which backend passed.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ashiato.beacon.columns import COLUMNS
from ashiato.beacon.event import Event
from ashiato.storage.backend import Store, connection
from ashiato.storage.capabilities import Capabilities
from ashiato.storage.errors import MigrationError, QueryRefused, QueryRejected
from ashiato.storage.limits import QueryLimits
from ashiato.storage.partitions import drop_partition, list_partitions, week_of
from ashiato.storage.schema import (
    EVENTS_TABLE,
    MIGRATIONS,
    Layout,
    Migration,
    applied_versions,
    migrate,
)

TABLES = {
    "events_data",
    "events",
    "identity_links",
    "audit_log",
    "suppressions",
    "provisions",
    "members",
    "schema_migrations",
}


def _tables(store: Store) -> set[str]:
    with connection(store) as backend:
        return {name for (name,) in backend.query("SHOW TABLES").rows}


def _ms(day: date, hour: int = 12, ms: int = 0) -> int:
    return int(
        (date.toordinal(day) - date(1970, 1, 1).toordinal()) * 86_400_000 + hour * 3_600_000 + ms
    )


@pytest.fixture
def migrated(store: Store) -> Store:
    with connection(store) as backend:
        migrate(backend)
    return store


def test_migrations_create_every_table_and_are_idempotent(store: Store) -> None:
    with connection(store) as backend:
        first = migrate(backend)
        second = migrate(backend)
    assert [m.version for m in first] == [m.version for m in MIGRATIONS]
    assert second == []
    assert _tables(store) >= TABLES


def test_a_migration_failing_half_way_resumes_on_the_next_run(store: Store) -> None:
    def broken(caps: Capabilities, layout: Layout) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS half_a (x UInt8) ENGINE = MergeTree ORDER BY x",
            "CREATE TABLE half_b (x NoSuchType) ENGINE = MergeTree ORDER BY x",
        ]

    def fixed(caps: Capabilities, layout: Layout) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS half_a (x UInt8) ENGINE = MergeTree ORDER BY x",
            "CREATE TABLE IF NOT EXISTS half_b (x UInt8) ENGINE = MergeTree ORDER BY x",
        ]

    with connection(store) as backend:
        with pytest.raises(MigrationError, match="migration 99"):
            migrate(backend, [*MIGRATIONS, Migration(99, "two tables", broken)])
        assert 99 not in applied_versions(backend)
        assert {m.version for m in MIGRATIONS} <= applied_versions(backend)
        assert [
            m.version for m in migrate(backend, [*MIGRATIONS, Migration(99, "two", fixed)])
        ] == [99]
    assert {"half_a", "half_b"} <= _tables(store)


def _awkward_events() -> list[Event]:
    day = date(2026, 3, 4)
    return [
        Event(
            ts_ms=_ms(day, 1, 1),
            kind="pageview",
            site="jp",
            ip="203.0.113.0",
            ip_full="203.0.113.77",
            url="https://例え.jp/ページ?q=日本語",
            ref_term="東京 ラーメン",
            language="ja-jp",
            purposes=("necessary", "statistics"),
            retention_class="statistics",
            consent_signal="explicit",
            policy_version="2",
        ),
        Event(
            ts_ms=_ms(day, 2, 999),
            kind="pageview",
            site="v6",
            ip="2001:db8:abcd::",
            ip_full="2001:db8:abcd:12::1",
            user_agent="x" * 20_000,
        ),
        Event(
            ts_ms=_ms(day, 3, 7),
            kind="email_open",
            site="mail",
            ip="192.0.2.0",
            ip_full="::ffff:192.0.2.1",
            recipient="a" * 32,
            campaign="キャンペーン",
            retention_class="email",
        ),
        Event(
            ts_ms=_ms(day, 4, 0),
            kind="event",
            site="",
            name="",
            url="",
            ip="",
            visitor_id="v-1",
            member_id="m-1",
            host="host.example",
            props='{"a":"\\t\'"}',
            asn=4_294_967_295,
            bytes_sent=2**63,
            status=599,
            request_time_ms=12,
            is_bot=True,
            purposes=(),
            retention_class="marketing",
        ),
        Event(
            ts_ms=1,
            kind="access_log",
            site="epoch",
            referrer="line1\nline2\ttab\\back'q\"",
            retention_class="necessary",
        ),
    ]


def test_a_batch_round_trips_every_field_exactly(migrated: Store) -> None:
    events = _awkward_events()
    with connection(migrated) as backend:
        backend.insert(EVENTS_TABLE, [e.to_row() for e in events], COLUMNS)
        rows = backend.query("SELECT * FROM events ORDER BY ts_ms").dicts()
    got = [Event.from_row(r) for r in rows]
    assert got == sorted(events, key=lambda e: e.ts_ms)
    assert rows[0]["day"] == date(1970, 1, 1)


def test_a_column_block_round_trips_every_field_exactly(migrated: Store) -> None:
    """The loader's shape: one list per column (columnar on the server, one payload on chdb)."""
    events = _awkward_events()
    rows = [e.to_row() for e in events]
    data = [[row[c] for row in rows] for c in COLUMNS]
    with connection(migrated) as backend:
        backend.insert_columns(EVENTS_TABLE, COLUMNS, data, dedup_token="block")
        backend.insert_columns(EVENTS_TABLE, COLUMNS, data, dedup_token="block")
        got = [
            Event.from_row(r) for r in backend.query("SELECT * FROM events ORDER BY ts_ms").dicts()
        ]
    assert got == sorted(events, key=lambda e: e.ts_ms)


def test_replayed_batches_are_seen_once(migrated: Store) -> None:
    events = _awkward_events()
    with connection(migrated) as backend:
        for _ in range(3):
            backend.insert(
                EVENTS_TABLE, [e.to_row() for e in events], COLUMNS, dedup_token="same-batch"
            )
        count = backend.query("SELECT count(), uniqExact(event_id) FROM events").rows[0]
    assert tuple(count) == (len(events), len(events))


def test_dropping_a_partition_removes_one_class_and_week_only(migrated: Store) -> None:
    monday = date(2026, 5, 4)
    events = [
        Event(ts_ms=_ms(d), kind="pageview", site="s", retention_class=cls)
        for cls in ("necessary", "statistics", "marketing")
        for d in (
            monday - timedelta(days=1),
            monday,
            monday + timedelta(days=6),
            monday + timedelta(days=7),
        )
    ]
    with connection(migrated) as backend:
        backend.insert(EVENTS_TABLE, [e.to_row() for e in events], COLUMNS)
        before = {(p.retention_class, p.week): p.rows for p in list_partitions(backend)}
        drop_partition(backend, "statistics", monday)
        after = {(p.retention_class, p.week): p.rows for p in list_partitions(backend)}
        left = backend.query(
            "SELECT retention_class, day FROM events ORDER BY retention_class, day"
        ).rows
    assert before[("statistics", monday)] == 2
    assert set(before) - set(after) == {("statistics", monday)}
    gone = {("statistics", monday), ("statistics", monday + timedelta(days=6))}
    expected = sorted(
        (e.retention_class, e.day) for e in events if (e.retention_class, e.day) not in gone
    )
    assert sorted(tuple(r) for r in left) == expected
    assert week_of(monday + timedelta(days=6)) == monday


def test_hostile_values_are_parameterized_and_identifiers_refused(migrated: Store) -> None:
    with connection(migrated) as backend:
        backend.insert(EVENTS_TABLE, [Event(ts_ms=5, kind="pageview", site="a").to_row()], COLUMNS)
        hostile = "a' OR 1=1 --"
        assert (
            backend.query("SELECT count() FROM events WHERE site = %(s)s", {"s": hostile}).scalar()
            == 0
        )
        assert (
            backend.query("SELECT count() FROM events WHERE site = %(s)s", {"s": "a"}).scalar() == 1
        )
        with pytest.raises(QueryRejected):
            backend.insert("events_data; DROP TABLE events_data", [{"site": "x"}], ["site"])
        with pytest.raises(QueryRejected):
            backend.insert(EVENTS_TABLE, [{"site": "x"}], ["site) VALUES ('y'); --"])
        assert backend.query("SELECT count() FROM events").scalar() == 1


def test_peoples_queries_read_and_refuse_through_the_engines_parser(migrated: Store) -> None:
    """The contract of `user_query`; every attack is in tests/security/test_sql_gate.py."""
    limits = QueryLimits(10, 1 << 30, 1000, 1 << 20)
    with connection(migrated) as backend:
        assert backend.user_query("SELECT 'a;b' AS x;", limits).rows == [("a;b",)]
        for sql in ("DROP TABLE events_data", "SELECT 1; DROP TABLE events_data"):
            with pytest.raises(QueryRefused):
                backend.user_query(sql, limits)
        assert "events_data" in {n for (n,) in backend.query("SHOW TABLES").rows}
