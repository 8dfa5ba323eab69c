"""A ClickHouse cluster: Distributed tables for reads and inserts, shard-local maintenance.

Collectors write through the Distributed tables (synchronously, so an insert is accepted only
once every shard has its rows) and read through them and the `events` view. What must run where
the rows are — mutations, partition drops, OPTIMIZE — comes through `execute_local` and is sent
to one replica of every shard; its statement names the `_local` tables itself (`Layout.local`).
Replication then carries it to the other replicas, so the `system.parts`/`system.mutations`
lookups that follow (`query_local`) ask every replica: a delete is done, and an old part gone,
only once it is so on each of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ashiato.storage._sql import check_identifier
from ashiato.storage.backend import QueryResult
from ashiato.storage.errors import StorageError
from ashiato.storage.layout import Layout
from ashiato.storage.limits import QueryLimits
from ashiato.storage.native import NativeBackend, NativeStore


@dataclass(frozen=True, slots=True)
class Node:
    """One server of the cluster."""

    shard: int
    replica: int
    host: str
    port: int


def _with_host(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    host_text = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{auth}{host_text}:{port}"))


class ClusterBackend:
    """Reads and inserts on the entry node; shard-local work on one replica per shard."""

    kind = "server"

    def __init__(
        self,
        entry: NativeBackend,
        shards: Sequence[NativeBackend],
        replicas: Sequence[Sequence[NativeBackend]],
        layout: Layout,
    ) -> None:
        self._entry = entry
        self._shards = list(shards)
        # Every replica of each shard, for system.parts/system.mutations: a mutation or a part's
        # removal is done only once each replica has it, and Distributed reads any replica.
        self._replicas = [list(r) for r in replicas] or [[shard] for shard in self._shards]
        self.database = entry.database
        self.capabilities = entry.capabilities
        self.layout = layout

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement on the entry server."""
        self._entry.execute(sql, params)

    def execute_local(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement on one replica of every shard, in shard order.

        A failure stops at that shard; the statements callers send here (deletes, drops,
        OPTIMIZE) do nothing a second time on the shards that already ran them, so the same
        call sent again finishes the job.
        """
        for shard in self._shards:
            shard.execute(sql, params)

    def query_local(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """The rows of every replica, each shard's identical rows once."""
        rows: list[tuple[Any, ...]] = []
        result = None
        for replicas in self._replicas:
            shard_rows: list[tuple[Any, ...]] = []
            for replica in replicas:
                result = replica.query(sql, params)
                shard_rows.extend(r for r in result.rows if r not in shard_rows)
            rows.extend(shard_rows)  # replicas that agree give their shard's rows once
        assert result is not None
        return QueryResult(result.columns, result.types, rows)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Through the Distributed tables of the entry server."""
        return self._entry.query(sql, params)

    def user_query(self, sql: str, limits: QueryLimits) -> QueryResult:
        """A person's query, on the entry node through the Distributed tables."""
        return self._entry.user_query(sql, limits)

    def insert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert through the Distributed table; accepted once every shard has its rows."""
        self._entry.insert(
            table, rows, columns, dedup_token=dedup_token, settings={"insert_distributed_sync": 1}
        )

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert a column block through the Distributed table, as `insert` does."""
        self._entry.insert_columns(
            table, columns, data, dedup_token=dedup_token, settings={"insert_distributed_sync": 1}
        )

    def close(self) -> None:
        """Close every connection."""
        for backend in (self._entry, *self._shards, *(b for r in self._replicas for b in r)):
            backend.close()


class ClusterStore:
    """A cluster reached through one of its servers (the URL) and named in its config."""

    kind = "server"

    def __init__(self, url: str, cluster: str) -> None:
        self._entry = NativeStore(url)
        self.url = url
        self.database = self._entry.database
        self.cluster = check_identifier(cluster)
        self._layout: Layout | None = None

    def nodes(self) -> list[Node]:
        """Every server of the cluster, from the entry node's `system.clusters`."""
        backend = NativeBackend(_with_database(self.url, "default"))
        try:
            result = backend.query(
                "SELECT shard_num, replica_num, host_address, port FROM system.clusters"
                " WHERE cluster = %(c)s ORDER BY shard_num, replica_num",
                {"c": self.cluster},
            )
        finally:
            backend.close()
        if not result.rows:
            raise StorageError(
                f"cluster {self.cluster!r} is not in the server's remote_servers configuration"
            )
        return [Node(int(s), int(r), str(h), int(p)) for s, r, h, p in result.rows]

    def node_stores(self) -> list[NativeStore]:
        """A store for each server of the cluster (every replica)."""
        return [NativeStore(_with_host(self.url, n.host, n.port)) for n in self.nodes()]

    def layout(self) -> Layout:
        """The cluster layout, replicated when the servers have ZooKeeper or Keeper."""
        if self._layout is not None:
            return self._layout
        backend = NativeBackend(_with_database(self.url, "default"))
        try:
            backend.query("SELECT count() FROM system.zookeeper WHERE path = '/'")
            replicated = True
        except StorageError:
            replicated = False
        finally:
            backend.close()
        self._layout = Layout(self.cluster, replicated, self.database)
        return self._layout

    def ensure_database(self) -> None:
        """Create the database on every server."""
        for store in self.node_stores():
            store.ensure_database()

    def connect(self) -> ClusterBackend:
        """The entry node, one replica per shard, and every replica (connected when used)."""
        nodes = self.nodes()
        shards: dict[int, Node] = {}
        replicas: dict[int, list[NativeBackend]] = {}
        for node in nodes:
            shards.setdefault(node.shard, node)
        entry = self._entry.connect()
        for node in nodes:
            # Given the capabilities, a backend connects on its first query.
            url = _with_host(self.url, node.host, node.port)
            replicas.setdefault(node.shard, []).append(NativeBackend(url, entry.capabilities))
        return ClusterBackend(
            entry,
            [NativeBackend(_with_host(self.url, n.host, n.port)) for n in shards.values()],
            list(replicas.values()),
            self.layout(),
        )

    def close(self) -> None:
        """Nothing is held between connections."""


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))
