"""Partitions of the events table: one per retention class and week, dropped whole."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from ashiato.storage.backend import Backend
from ashiato.storage.errors import StorageError
from ashiato.storage.schema import EVENTS_TABLE

_PARTITION = re.compile(r"\('((?:\\.|[^'\\])*)', ?'(\d{4}-\d{2}-\d{2})'\)")


def week_of(day: date) -> date:
    """The Monday that starts `day`'s partition week (ClickHouse's toMonday)."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class Partition:
    """One events partition: a retention class and the Monday of its week."""

    retention_class: str
    week: date
    rows: int


def list_partitions(backend: Backend) -> list[Partition]:
    """Active partitions of the events table with their stored row counts, from system.parts.

    Reading the parts list instead of the table keeps this cheap however many rows there are.
    """
    result = backend.query_local(
        "SELECT partition, sum(rows) FROM system.parts"
        " WHERE database = %(db)s AND table = %(table)s AND active"
        " GROUP BY partition ORDER BY partition",
        {"db": backend.database, "table": backend.layout.local(EVENTS_TABLE)},
    )
    totals: dict[tuple[str, date], int] = {}
    for text, rows in result.rows:  # one row per shard on a cluster
        match = _PARTITION.fullmatch(str(text))
        if match is None:
            raise StorageError(f"unexpected partition value in {EVENTS_TABLE}: {text!r}")
        name = match.group(1).replace("\\'", "'").replace("\\\\", "\\")
        key = (name, date.fromisoformat(match.group(2)))
        totals[key] = totals.get(key, 0) + int(rows)
    return [Partition(name, week, rows) for (name, week), rows in sorted(totals.items())]


def drop_partition(backend: Backend, retention_class: str, week: date) -> None:
    """Drop one class's week of events in a single metadata operation."""
    if week != week_of(week):
        raise ValueError(f"{week} is not a Monday: partitions start on Mondays")
    backend.execute_local(
        f"ALTER TABLE {backend.layout.local(EVENTS_TABLE)} DROP PARTITION (%(cls)s, %(week)s)",
        {"cls": retention_class, "week": week},
    )
