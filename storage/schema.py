"""Versioned, idempotent schema migrations for every ashiato table.

Each migration is a list of statements that can all run again safely (IF NOT EXISTS); its
version is recorded only after every statement succeeded, so a migration interrupted half-way
is simply run again from its start. The schema stays within what ClickHouse 18.16 accepts;
newer servers get LowCardinality where it is transparent to readers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ashiato.beacon.columns import EVENT_COLUMNS
from ashiato.storage._records import Columns
from ashiato.storage.backend import Backend
from ashiato.storage.capabilities import Capabilities
from ashiato.storage.errors import MigrationError, StorageError
from ashiato.storage.layout import SINGLE, Layout

__all__ = [
    "EVENTS_TABLE",
    "EVENTS_VIEW",
    "EVENT_RECORD",
    "MIGRATIONS",
    "SINGLE",
    "Layout",
    "Migration",
    "applied_versions",
    "event_columns_ddl",
    "migrate",
]

EVENTS_TABLE = "events_data"
EVENTS_VIEW = "events"
EVENT_RECORD: Columns = tuple((c.name, c.type) for c in EVENT_COLUMNS)
"""How an event row is laid out in the spool: every column, in table order, with its type."""


@dataclass(frozen=True, slots=True)
class AddColumn:
    """A column added to an existing table, skipped where the table already has it.

    ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, and a migration interrupted after its
    ALTER must still be safe to run again.
    """

    table: str
    column: str
    definition: str  # type and default, as in CREATE TABLE

    @property
    def sql(self) -> str:
        """The ALTER statement."""
        return f"ALTER TABLE {self.table} ADD COLUMN {self.column} {self.definition}"


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its version, a name, and its statements for a server and layout."""

    version: int
    name: str
    statements: Callable[[Capabilities, Layout], Sequence[str | AddColumn]]


def event_columns_ddl(caps: Capabilities) -> str:
    """The events table's column list for CREATE TABLE, from `beacon.columns`."""
    return ", ".join(f"{c.name} {c.clickhouse_type(caps.low_cardinality)}" for c in EVENT_COLUMNS)


def _events(caps: Capabilities, layout: Layout) -> list[str]:
    columns = event_columns_ddl(caps)
    # Each event is kept once per event id: replays after a crash insert the same id again and
    # ReplacingMergeTree collapses them; the `events` view reads through FINAL so every query
    # sees each event once even before the background merge happened. On a cluster one
    # subject's events stay on one shard (and a replayed event on the shard of its first copy).
    return [
        *layout.create(
            EVENTS_TABLE,
            columns,
            "ReplacingMergeTree",
            "PARTITION BY (retention_class, toMonday(day)) ORDER BY (site, kind, day, event_id)",
            "cityHash64(ifNull(visitor_id, ifNull(recipient, toString(event_id))))",
        ),
        f"CREATE VIEW IF NOT EXISTS {EVENTS_VIEW} AS SELECT * FROM {EVENTS_TABLE} FINAL",
    ]


def _privacy_tables(caps: Capabilities, layout: Layout) -> list[str]:
    low = caps.string_type(low_cardinality=True)
    return [
        *layout.create(
            "identity_links",
            f"member_id String, visitor_id String, ts_ms UInt64, action {low}, actor String, "
            "reason String",
            "MergeTree",
            "ORDER BY (member_id, visitor_id, ts_ms)",
            "cityHash64(member_id)",
        ),
        *layout.create(
            "audit_log",
            f"ts_ms UInt64, day Date, actor String, action {low}, subject_type {low}, "
            "subject String, reason String, rows UInt64, detail String",
            "MergeTree",
            "PARTITION BY toYYYYMM(day) ORDER BY ts_ms",
            "rand()",
        ),
        *layout.create(
            "suppressions",
            f"subject_type {low}, subject String, ts_ms UInt64, suppressed UInt8, actor String, "
            "reason String",
            "MergeTree",
            "ORDER BY (subject_type, subject, ts_ms)",
            "cityHash64(subject)",
        ),
        *layout.create(
            "provisions",
            "ts_ms UInt64, day Date, recipient String, purpose String, "
            "categories Array(String), member_id Nullable(String), aggregate UInt8, "
            "actor String, note String",
            "MergeTree",
            "PARTITION BY toYYYYMM(day) ORDER BY (recipient, ts_ms)",
            "rand()",
        ),
        *layout.create(
            "members",
            f"member_id String, ts_ms UInt64, registered UInt8, purposes Array(String), "
            f"source {low}",
            "MergeTree",
            "ORDER BY (member_id, ts_ms)",
            "cityHash64(member_id)",
        ),
    ]


def _prompt_part_removal(caps: Capabilities, layout: Layout) -> list[str]:
    # After an erasure the rows live on in replaced parts until ClickHouse deletes them,
    # old_parts_lifetime later (8 minutes by default). One minute keeps "physically removed"
    # close to the request. 18.16 cannot change table settings: set it in the server's
    # <merge_tree> config there (see deploy/clickhouse/).
    if not caps.modify_setting or caps.embedded:
        return []  # chdb keeps no replaced parts around (old_parts_lifetime 0); see migration 4
    return [
        f"ALTER TABLE {layout.local(name)} MODIFY SETTING old_parts_lifetime = 60"
        for name in (EVENTS_TABLE, "identity_links", "members", "provisions")
    ]


def _prompt_cleanup(caps: Capabilities, layout: Layout) -> list[str]:
    # A part replaced by a delete is removed by a cleanup task whose pause grows to
    # max_cleanup_delay_period (300 s) while it finds nothing to do, so an erasure waited up to
    # a minute for its rows to leave the disk. Run the cleanup every second on these tables
    # (cheap: it only lists parts). 18.16 to 22.x keep their server-wide <merge_tree> settings.
    if not caps.prompt_cleanup:
        return []
    return [
        f"ALTER TABLE {layout.local(name)} MODIFY SETTING cleanup_delay_period = 1, "
        "cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 1"
        for name in (EVENTS_TABLE, "identity_links", "members", "provisions")
    ]


def _suppression_purpose(caps: Capabilities, layout: Layout) -> list[AddColumn]:
    # The purpose a suppression row is about; '' (every row written before) means every use.
    definition = f"{caps.string_type(low_cardinality=True)} DEFAULT ''"
    tables = [layout.local("suppressions")] + (["suppressions"] if layout.cluster else [])
    return [AddColumn(table, "purpose", definition) for table in tables]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events table and deduplicating view", _events),
    Migration(2, "identity links, audit trail, suppressions, provisions, members", _privacy_tables),
    Migration(3, "remove replaced parts within a minute of an erasure", _prompt_part_removal),
    Migration(4, "remove replaced parts within seconds of an erasure", _prompt_cleanup),
    Migration(5, "suppressions name the purpose they suppress", _suppression_purpose),
)

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_ms UInt64
) ENGINE = MergeTree ORDER BY version"""


def has_column(backend: Backend, table: str, column: str) -> bool:
    """True when `table` of the backend's database has `column`."""
    result = backend.query(
        "SELECT count() FROM system.columns WHERE database = %(db)s AND table = %(t)s"
        " AND name = %(c)s",
        {"db": backend.database, "t": table, "c": column},
    )
    return bool(result.scalar())


def applied_versions(backend: Backend) -> set[int]:
    """The versions already recorded in the migrations ledger."""
    backend.execute(_LEDGER)
    return {int(v) for (v,) in backend.query("SELECT version FROM schema_migrations").rows}


def migrate(
    backend: Backend, migrations: Sequence[Migration] = MIGRATIONS, layout: Layout = SINGLE
) -> list[Migration]:
    """Apply every migration not yet recorded, in order; return those applied now.

    On a cluster this runs on each node (the ledger is per node, like the local tables).
    """
    done = applied_versions(backend)
    applied: list[Migration] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        try:
            for statement in migration.statements(backend.capabilities, layout):
                if isinstance(statement, AddColumn):
                    if has_column(backend, statement.table, statement.column):
                        continue
                    statement = statement.sql
                backend.execute(statement)
        except StorageError as exc:
            raise MigrationError(
                f"migration {migration.version} ({migration.name}) failed: {exc}"
            ) from exc
        backend.insert(
            "schema_migrations",
            [
                {
                    "version": migration.version,
                    "name": migration.name,
                    "applied_ms": int(time.time() * 1000),
                }
            ],
            ("version", "name", "applied_ms"),
        )
        applied.append(migration)
    return applied
