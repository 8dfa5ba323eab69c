"""Where tables live: one server, or shards of a ClickHouse cluster.

Statements that must run where the rows are (mutations, partition drops, OPTIMIZE, lookups in
`system.parts` and `system.mutations`) name their table through `Layout.local`, where they are
built; nothing rewrites SQL text afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Layout:
    """One server, or a cluster whose data tables are sharded.

    On a cluster every data table `T` is `T_local` on each shard (ReplicatedMergeTree when
    ZooKeeper/Keeper is configured) under a Distributed table named `T`, so every query, view
    and insert reads and writes the same names as on a single server.
    """

    cluster: str = ""
    replicated: bool = False
    database: str = "default"

    def local(self, name: str) -> str:
        """The name the rows of data table `name` are stored under on each server."""
        return f"{name}_local" if self.cluster else name

    def engine(self, engine: str, name: str) -> str:
        """The table engine, replicated when the cluster has a coordinator."""
        if not self.replicated:
            return engine
        path = f"/clickhouse/tables/{{shard}}/{self.database}/{self.local(name)}"
        return f"Replicated{engine}('{path}', '{{replica}}')"

    def create(self, name: str, columns: str, engine: str, tail: str, sharding: str) -> list[str]:
        """CREATE statements for one data table, and its Distributed table on a cluster."""
        local = self.local(name)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {local} ({columns}) "
            f"ENGINE = {self.engine(engine, name)} {tail}"
        ]
        if self.cluster:
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {name} AS {local} ENGINE = Distributed("
                f"{self.cluster}, {self.database}, {local}, {sharding})"
            )
        return statements


SINGLE = Layout()
