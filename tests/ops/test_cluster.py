"""Two real ClickHouse servers as a two-shard cluster: migrate, ingest through two collectors,
read the totals through the Distributed tables, erase a subject on both shards."""

from __future__ import annotations

import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clickhouse_server import ClickHouseServer, free_port
from tests.collector.test_cli import Served, run_cli

CLUSTER = "ashiato_test"


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ClickHouseServer]]:
    ports = [free_port(), free_port()]
    remote = (
        f"<remote_servers><{CLUSTER}>"
        + "".join(
            f"<shard><replica><host>127.0.0.1</host><port>{p}</port></replica></shard>"
            for p in ports
        )
        + f"</{CLUSTER}></remote_servers>"
    )
    base = tmp_path_factory.mktemp("cluster")
    servers = [
        ClickHouseServer(base / f"shard{i}", ports[i], free_port(), remote) for i in range(2)
    ]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def _rows(server: ClickHouseServer, sql: str) -> list[tuple[object, ...]]:
    client = server.client("cl")
    try:
        return list(client.execute(sql))
    finally:
        client.disconnect()


def _count(server: ClickHouseServer, sql: str) -> int:
    return int(_rows(server, sql)[0][0])  # type: ignore[call-overload]


def _wait_count(server: ClickHouseServer, sql: str, expected: int) -> int:
    count = -1
    for _ in range(150):
        count = _count(server, sql)
        if count == expected:
            break
        time.sleep(0.2)
    return count


def test_a_two_shard_cluster_end_to_end(shards: list[ClickHouseServer], tmp_path: Path) -> None:
    url = shards[0].url_for("cl")
    migrated = run_cli(
        "migrate",
        "--clickhouse-url",
        url,
        "--cluster",
        CLUSTER,
        "--data-dir",
        str(tmp_path / "m"),
        check=True,
    )
    assert "schema is current" in migrated.stdout
    for server in shards:
        tables = {name for (name,) in _rows(server, "SHOW TABLES")}
        assert {"events_data", "events_data_local", "events", "identity_links_local"} <= tables

    collectors = [
        Served(
            tmp_path / "c0",
            [
                "--clickhouse-url",
                shards[0].url_for("cl"),
                "--cluster",
                CLUSTER,
                "--batch-ms",
                "100",
            ],
        )
    ]
    # Collectors of one deployment share keys.json, so a cookie means the same visitor anywhere.
    (tmp_path / "c1").mkdir()
    shutil.copy(tmp_path / "c0" / "keys.json", tmp_path / "c1" / "keys.json")
    collectors.append(
        Served(
            tmp_path / "c1",
            [
                "--clickhouse-url",
                shards[1].url_for("cl"),
                "--cluster",
                CLUSTER,
                "--batch-ms",
                "100",
            ],
        )
    )
    try:
        for visitor in range(40):
            cookie = ""
            for hit in range(5):
                collector = collectors[(visitor + hit) % 2]
                request = urllib.request.Request(
                    f"{collector.url}/b.gif?s=shop&c=statistics,personalization&u=/{hit}",
                    headers={"Cookie": f"ashiato_vid={cookie}"} if cookie else {},
                )
                with urllib.request.urlopen(request) as response:
                    cookie = cookie or response.headers["Set-Cookie"].split(";")[0].split("=")[1]
        # Each collector's writer inserts synchronously through the Distributed table.
        assert _wait_count(shards[0], "SELECT count() FROM events", 200) == 200
        local = [_count(s, "SELECT count() FROM events_data_local") for s in shards]
        assert sum(local) == 200 and min(local) > 0
        assert _count(shards[1], "SELECT count() FROM events") == 200
        per_shard = [
            _count(s, "SELECT uniqExact(visitor_id) FROM events_data_local") for s in shards
        ]
        assert sum(per_shard) == 40  # one visitor's events never span shards

        visitor = str(_rows(shards[0], "SELECT any(visitor_id) FROM events")[0][0])
        erased = run_cli(
            "subject",
            "erase",
            "--clickhouse-url",
            url,
            "--cluster",
            CLUSTER,
            "--data-dir",
            str(tmp_path / "c0"),
            "--visitor",
            visitor,
            "--reason",
            "erasure on a cluster",
            check=True,
        )
        assert "rows remaining: 0" in erased.stdout
        for server in shards:
            assert (
                _count(
                    server, f"SELECT count() FROM events_data_local WHERE visitor_id = '{visitor}'"
                )
                == 0
            )
        assert _count(shards[0], "SELECT count() FROM events") == 195
        audit = run_cli(
            "audit",
            "--clickhouse-url",
            url,
            "--cluster",
            CLUSTER,
            "--data-dir",
            str(tmp_path / "c0"),
            check=True,
        )
        assert "erasure on a cluster" in audit.stdout
    finally:
        for collector in collectors:
            collector.stop()
