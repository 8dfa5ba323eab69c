"""Expiry: drop whole partitions past their class's horizon, never rewrite rows.

Events are partitioned by (retention class, week), the audit trail and the provision ledger
by month, so a horizon passing is a metadata-only DROP PARTITION. Dropping an already dropped
partition is a no-op, so a run that crashed half-way is finished by simply running it again,
and an event that arrives late for an expired week is dropped by the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ashiato.beacon.vocabulary import RETENTION_CLASSES
from ashiato.retention._clock import horizon, midnight, to_ms
from ashiato.retention.policy import RetentionPolicy
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend
from ashiato.storage.partitions import drop_partition, list_partitions
from ashiato.storage.schema import EVENTS_TABLE

MONTHLY_TABLES = {"audit_log": "audit", "provisions": "provisions"}


@dataclass(frozen=True, slots=True)
class DroppedPartition:
    """One partition expiry dropped (or, in a dry run, would drop)."""

    table: str
    partition: str  # "class/YYYY-MM-DD" (the week's Monday) or "YYYYMM"
    rows: int

    @property
    def name(self) -> str:
        """`table:partition`, for reports and logs."""
        return f"{self.table}:{self.partition}"


@dataclass(frozen=True, slots=True)
class ExpireResult:
    """What an expiry run dropped, what it left alone, and how long it took."""

    dropped: tuple[DroppedPartition, ...]
    unknown_classes: tuple[str, ...]
    dry_run: bool
    elapsed_s: float

    @property
    def rows(self) -> int:
        """Rows in the dropped partitions."""
        return sum(p.rows for p in self.dropped)


def week_expired(week: date, days: int, now: datetime) -> bool:
    """True when the whole week starting `week` ended before `now - days`."""
    return midnight(week + timedelta(days=7)) <= horizon(now, days)


def month_expired(yyyymm: int, days: int, now: datetime) -> bool:
    """True when the whole month `yyyymm` ended before `now - days`."""
    year, month = divmod(yyyymm, 100)
    following = date(year + month // 12, month % 12 + 1, 1)
    return midnight(following) <= horizon(now, days)


def monthly_partitions(backend: Backend, table: str) -> list[tuple[int, int]]:
    """Active (YYYYMM, rows) partitions of a table partitioned by toYYYYMM(day)."""
    result = backend.query_local(
        "SELECT partition, sum(rows) FROM system.parts"
        " WHERE database = %(db)s AND table = %(t)s AND active"
        " GROUP BY partition ORDER BY partition",
        {"db": backend.database, "t": backend.layout.local(table)},
    )
    totals: dict[int, int] = {}
    for partition, rows in result.rows:  # one row per shard on a cluster
        yyyymm = int(str(partition).strip("'"))
        totals[yyyymm] = totals.get(yyyymm, 0) + int(rows)
    return sorted(totals.items())


def expire(
    backend: Backend, policy: RetentionPolicy, now: datetime, dry_run: bool = False
) -> ExpireResult:
    """Drop every events, audit and provisions partition past its horizon under `policy`.

    Partitions of a retention class the policy does not know are kept and reported: dropping
    data nobody classified is a decision for a person, not a job.
    """
    started = time.monotonic()
    dropped: list[DroppedPartition] = []
    unknown: set[str] = set()
    for part in list_partitions(backend):
        if part.retention_class not in RETENTION_CLASSES:
            unknown.add(part.retention_class)
            continue
        if week_expired(part.week, policy.days_for(part.retention_class), now):
            if not dry_run:
                drop_partition(backend, part.retention_class, part.week)
            name = f"{part.retention_class}/{part.week.isoformat()}"
            dropped.append(DroppedPartition(EVENTS_TABLE, name, part.rows))
    for table, retention_class in MONTHLY_TABLES.items():
        for yyyymm, rows in monthly_partitions(backend, table):
            if month_expired(yyyymm, policy.days_for(retention_class), now):
                if not dry_run:
                    backend.execute_local(
                        f"ALTER TABLE {backend.layout.local(table)} DROP PARTITION %(p)s",
                        {"p": yyyymm},
                    )
                dropped.append(DroppedPartition(table, str(yyyymm), rows))
    result = ExpireResult(
        tuple(dropped), tuple(sorted(unknown)), dry_run, time.monotonic() - started
    )
    if dropped and not dry_run:
        record(
            backend,
            AuditEntry(
                actor="retention",
                action="expire",
                rows=result.rows,
                detail=" ".join(p.name for p in dropped),
            ),
            to_ms(now),
        )
    return result
