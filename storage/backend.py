"""The storage contract both backends implement, and the factory that picks one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ashiato.storage.capabilities import Capabilities
from ashiato.storage.layout import Layout
from ashiato.storage.limits import QueryLimits


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of a query with their column names and ClickHouse types."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as one dict per row, keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        """The first column of the first row, or None for an empty result."""
        return self.rows[0][0] if self.rows else None


class Backend(Protocol):
    """One connection to ClickHouse. Not shared between threads.

    `execute` and `query` go where reads and inserts go (on a cluster, the Distributed tables
    of the entry server). Work on the stored rows themselves goes through `execute_local` and
    `query_local`, naming its tables with `layout.local(name)`.
    """

    kind: str
    database: str
    capabilities: Capabilities
    layout: Layout

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows (DDL, inserts by query)."""
        ...

    def execute_local(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement on the stored rows: mutations, partition drops, OPTIMIZE.

        On a cluster it runs once on every shard (replication carries it to the other
        replicas); elsewhere it is `execute`.
        """
        ...

    def query_local(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Query every server that stores rows (system.parts, system.mutations, `_part`).

        On a cluster the rows of every replica come back, each shard's identical rows once;
        elsewhere it is `query`.
        """
        ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a query of ours and return its rows."""
        ...

    def user_query(self, sql: str, limits: QueryLimits) -> QueryResult:
        """Run one query a person wrote (`ashiato sql`): only a plain read of this database's
        tables, as ClickHouse's own parser sees it (`sqlgate`), read-only and under `limits`.
        Raises QueryRefused or QueryLimitExceeded with the reason in one line."""
        ...

    def insert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert rows (dicts keyed by column) as one block."""
        ...

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert one block given column by column: `data[i]` holds the values of
        `columns[i]`, every list as long (the loader's batches, built in this shape)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class Store(Protocol):
    """Where events live: hands out backends, one per thread of use."""

    kind: str
    database: str

    def ensure_database(self) -> None:
        """Create the configured database if it does not exist."""
        ...

    def connect(self) -> Backend:
        """A new backend for the calling thread; close it when done."""
        ...

    def close(self) -> None:
        """Release everything the store holds (the embedded engine, for chdb)."""
        ...


@contextmanager
def connection(store: Store) -> Iterator[Backend]:
    """A backend from `store` for the length of a `with` block."""
    backend = store.connect()
    try:
        yield backend
    finally:
        backend.close()


def open_store(
    clickhouse_url: str, data_dir: str, database: str = "ashiato", cluster: str = ""
) -> Store:
    """The configured store: a cluster, a ClickHouse server, or else embedded chdb."""
    if clickhouse_url and cluster:
        from ashiato.storage.cluster import ClusterStore

        return ClusterStore(clickhouse_url, cluster)
    if clickhouse_url:
        from ashiato.storage.native import NativeStore

        return NativeStore(clickhouse_url)
    from ashiato.storage.embedded import EmbeddedStore

    return EmbeddedStore(data_dir, database)
