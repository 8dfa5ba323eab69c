"""Fixtures for the retention tests: a migrated throwaway database on each backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from ashiato.beacon.columns import COLUMNS
from ashiato.beacon.event import Event
from ashiato.storage.backend import Backend, Store, connection
from ashiato.storage.schema import EVENTS_TABLE, migrate


@pytest.fixture
def backend(store: Store) -> Iterator[Backend]:
    """A backend on a freshly migrated database."""
    with connection(store) as handle:
        migrate(handle)
        yield handle


def at(day: date, hour: int = 12) -> datetime:
    """An aware UTC instant on `day`."""
    return datetime.combine(day, time(hour), tzinfo=UTC)


def ms(day: date, hour: int = 12) -> int:
    """`day` at `hour` UTC in epoch milliseconds."""
    return int(at(day, hour).timestamp() * 1000)


def insert(backend: Backend, events: Sequence[Event]) -> None:
    """Insert events as the writer does."""
    backend.insert(EVENTS_TABLE, [e.to_row() for e in events], COLUMNS)


class FailingBackend:
    """The real backend, except that statements containing `marker` fail after `allowed` ran.

    Simulates a crash half-way through a job: what ran before the failure really ran.
    """

    def __init__(self, inner: Backend, marker: str, allowed: int) -> None:
        self._inner = inner
        self.kind = inner.kind
        self.database = inner.database
        self.capabilities = inner.capabilities
        self.layout = inner.layout
        self._marker = marker
        self._allowed = allowed

    def _check(self, sql: str) -> None:
        if self._marker in sql:
            if self._allowed <= 0:
                raise ConnectionError(f"simulated crash before: {sql[:40]}")
            self._allowed -= 1

    def execute(self, sql: str, params: Any = None) -> None:
        self._check(sql)
        self._inner.execute(sql, params)

    def execute_local(self, sql: str, params: Any = None) -> None:
        self._check(sql)
        self._inner.execute_local(sql, params)

    def query(self, sql: str, params: Any = None) -> Any:
        self._check(sql)
        return self._inner.query(sql, params)

    def user_query(self, sql: str, limits: Any) -> Any:
        self._check(sql)
        return self._inner.user_query(sql, limits)

    def query_local(self, sql: str, params: Any = None) -> Any:
        self._check(sql)
        return self._inner.query_local(sql, params)

    def insert(self, table: str, rows: Any, columns: Any, *, dedup_token: Any = None) -> None:
        self._inner.insert(table, rows, columns, dedup_token=dedup_token)

    def close(self) -> None:
        self._inner.close()
