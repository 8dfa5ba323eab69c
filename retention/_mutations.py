"""Mutations (ALTER … UPDATE/DELETE, lightweight DELETE) and waiting for them to finish.

ClickHouse applies mutations in the background, in order, part by part; a mutation that
cannot be applied blocks every later one on the table. So each statement here is followed by
polling `system.mutations` (present with `is_done` since 18.12), and a mutation the server
reports as failing is killed where the server can (19.x and later) and raised.

Functions here take the logical table name (`events_data`) and name the table the rows are
stored in through the backend's layout (on a cluster, `events_data_local` on every shard).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from ashiato.retention.errors import MutationFailed
from ashiato.storage.backend import Backend
from ashiato.storage.errors import QueryRejected

_POLL_S = 0.1


def mutation_ids(backend: Backend, table: str) -> set[str]:
    """Ids of every mutation ClickHouse still lists for `table`."""
    result = backend.query_local(
        "SELECT mutation_id FROM system.mutations WHERE database = %(db)s AND table = %(t)s",
        {"db": backend.database, "t": backend.layout.local(table)},
    )
    return {str(r[0]) for r in result.rows}


def _reports_failures(backend: Backend) -> bool:
    # `latest_fail_reason` arrived after 18.16; without it a failing mutation only times out.
    result = backend.query(
        "SELECT count() FROM system.columns WHERE database = 'system'"
        " AND table = 'mutations' AND name = 'latest_fail_reason'"
    )
    return bool(result.scalar())


def wait_for_mutations(backend: Backend, table: str, ignore: set[str], timeout: float) -> bool:
    """Wait until every mutation of `table` not in `ignore` is done; False on timeout.

    Mutations listed in `ignore` existed before ours and finished or run ahead of it anyway.
    """
    failures = _reports_failures(backend)
    fail_column = ", latest_fail_reason" if failures else ""
    deadline = time.monotonic() + timeout
    while True:
        rows = backend.query_local(
            f"SELECT mutation_id, is_done{fail_column} FROM system.mutations"
            " WHERE database = %(db)s AND table = %(t)s",
            {"db": backend.database, "t": backend.layout.local(table)},
        ).rows
        pending = [r for r in rows if str(r[0]) not in ignore and not r[1]]
        if not pending:
            return True
        failed = [r for r in pending if failures and r[2]]
        if failed:
            for row in failed:
                _kill(backend, table, str(row[0]))
            raise MutationFailed(f"mutation {failed[0][0]} on {table} failed: {failed[0][2]}")
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)


def _kill(backend: Backend, table: str, mutation_id: str) -> None:
    # Servers without KILL MUTATION keep it until an operator removes it.
    with contextlib.suppress(QueryRejected):
        backend.execute_local(
            "KILL MUTATION WHERE database = %(db)s AND table = %(t)s AND mutation_id = %(id)s",
            {"db": backend.database, "t": backend.layout.local(table), "id": mutation_id},
        )


def mutate(
    backend: Backend,
    table: str,
    statement: str,
    params: Mapping[str, Any],
    *,
    wait: bool,
    timeout: float,
) -> bool:
    """Run one mutation on `table`; with `wait`, poll until it is done. True when done.

    `statement` names the table as `backend.layout.local(table)`: it runs where the rows are.
    """
    before = mutation_ids(backend, table)
    backend.execute_local(statement, params)
    if not wait:
        return False
    return wait_for_mutations(backend, table, before, timeout)


def delete_where(
    backend: Backend,
    table: str,
    predicate: str,
    params: Mapping[str, Any],
    *,
    wait: bool,
    timeout: float,
) -> bool:
    """Delete the rows matching `predicate`: lightweight DELETE where the server has it.

    `predicate` must never be NULL for a row (guard Nullable columns with isNotNull and
    assumeNotNull): ClickHouse 18.16 removes rows whose delete condition is NULL.
    """
    local = backend.layout.local(table)
    if backend.capabilities.lightweight_delete:
        statement = f"DELETE FROM {local} WHERE {predicate}"
    else:
        statement = f"ALTER TABLE {local} DELETE WHERE {predicate}"
    return mutate(backend, table, statement, params, wait=wait, timeout=timeout)
