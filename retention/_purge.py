"""Physical removal: after a delete, make sure no part on disk still holds the rows.

A delete leaves the old parts (18.16's rewritten parts; a lightweight DELETE's masked rows)
on disk until merges replace them and ClickHouse removes the inactive parts, after the
MergeTree setting `old_parts_lifetime` (480 s by default on a server). So: remember which
parts held the rows, OPTIMIZE … FINAL their partitions so masked rows are merged away, then
poll system.parts until none of those parts is listed any more.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ashiato.storage.backend import Backend


def holding_parts(
    backend: Backend, table: str, predicate: str, params: Mapping[str, Any], *, masked: bool
) -> set[str]:
    """Names of parts holding rows that match `predicate`; `masked` includes deleted rows."""
    settings = " SETTINGS apply_deleted_mask = 0" if masked else ""
    local = backend.layout.local(table)
    # Not `SELECT DISTINCT _part … WHERE`: that query crashes ClickHouse 18.16 (segfault).
    result = backend.query_local(
        f"SELECT _part, count() FROM {local} WHERE {predicate} GROUP BY _part{settings}", params
    )
    return {str(r[0]) for r in result.rows}


def listed_parts(backend: Backend, table: str, names: set[str]) -> list[str]:
    """Those of `names` still listed in system.parts (active or waiting for removal)."""
    if not names:
        return []
    result = backend.query_local(
        "SELECT name FROM system.parts WHERE database = %(db)s AND table = %(t)s"
        " AND has(%(names)s, name) ORDER BY name",
        {"db": backend.database, "t": backend.layout.local(table), "names": sorted(names)},
    )
    return [str(r[0]) for r in result.rows]


def optimize_partitions_of(backend: Backend, table: str, names: set[str]) -> None:
    """Merge the partitions of the given parts into one part each, dropping masked rows."""
    if not names:
        return
    local = backend.layout.local(table)
    result = backend.query_local(
        "SELECT DISTINCT partition_id FROM system.parts WHERE database = %(db)s"
        " AND table = %(t)s AND has(%(names)s, name)",
        {"db": backend.database, "t": local, "names": sorted(names)},
    )
    for partition_id in sorted({str(row[0]) for row in result.rows}):
        backend.execute_local(
            f"OPTIMIZE TABLE {local} PARTITION ID %(id)s FINAL", {"id": partition_id}
        )


def wait_until_unlisted(
    backend: Backend, held: Mapping[str, set[str]], deadline: float, poll: float = 0.5
) -> list[str]:
    """Poll until no held part is listed or `deadline` passes; those left, as table/part."""
    while True:
        left = [f"{t}/{p}" for t, names in held.items() for p in listed_parts(backend, t, names)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(poll)
