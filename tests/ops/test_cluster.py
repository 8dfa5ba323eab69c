"""Two real ClickHouse servers as a two-shard cluster: migrate, ingest through two collectors,
read the totals through the Distributed tables, erase a visitor and a member on both shards,
and finish an erasure that a failing shard cut short by sending it again."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ashiato.beacon.columns import COLUMNS
from ashiato.beacon.event import Event
from ashiato.retention.link import LINK_COLUMNS
from ashiato.retention.members import register_member
from ashiato.retention.provisions import record_provision
from ashiato.storage.backend import connection
from ashiato.storage.cluster import ClusterStore
from ashiato.storage.schema import EVENTS_TABLE
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


def _rows(server: ClickHouseServer, sql: str, database: str = "cl") -> list[tuple[object, ...]]:
    client = server.client(database)
    try:
        return list(client.execute(sql))
    finally:
        client.disconnect()


def _count(server: ClickHouseServer, sql: str, database: str = "cl") -> int:
    return int(_rows(server, sql, database)[0][0])  # type: ignore[call-overload]


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


# --- a member's erasure ----------------------------------------------------------------------

VISITORS = [f"v-{n:02d}" for n in range(16)]


def _rows_in(server: ClickHouseServer, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query naming its database itself."""
    return _rows(server, sql, "default")


def _count_in(server: ClickHouseServer, sql: str) -> int:
    return _count(server, sql, "default")


def _migrated(url: str, data_dir: Path) -> None:
    run_cli(
        "migrate",
        "--clickhouse-url",
        url,
        "--cluster",
        CLUSTER,
        "--data-dir",
        str(data_dir),
        check=True,
    )


def _a_member_on_both_shards(url: str, member: str, shards: list[ClickHouseServer]) -> None:
    """A registered member with linked visitors whose events live on both shards, a provision
    record and an event carrying the member id; and an unrelated visitor who must stay."""
    store = ClusterStore(url, CLUSTER)
    with connection(store) as backend:
        register_member(backend, member, True, ["necessary", "marketing"])
        events = [
            Event(
                ts_ms=1_700_000_000_000 + n * 1000 + hit,
                kind="pageview",
                site="shop",
                visitor_id=visitor,
                purposes=("necessary", "marketing"),
            )
            for n, visitor in enumerate([*VISITORS, "stranger"])
            for hit in range(3)
        ]
        events.append(Event(ts_ms=1_700_000_100_000, kind="event", site="shop", member_id=member))
        backend.insert(EVENTS_TABLE, [e.to_row() for e in events], COLUMNS)
        links = [
            {
                "member_id": member,
                "visitor_id": v,
                "ts_ms": 1,
                "action": "link",
                "actor": "test",
                "reason": "identified",
            }
            for v in VISITORS
        ]
        backend.insert("identity_links", links, LINK_COLUMNS)
        record_provision(
            backend,
            recipient="partner",
            purpose="delivery",
            categories=["address"],
            member_ids=[member],
            actor="test",
        )
    database = url.rsplit("/", 1)[1]
    per_shard = [
        _count_in(
            s, f"SELECT count() FROM {database}.events_data_local WHERE visitor_id LIKE 'v-%'"
        )
        for s in shards
    ]
    assert sum(per_shard) == 3 * len(VISITORS) and min(per_shard) > 0, per_shard


def _nothing_of_the_member_is_left(
    database: str, member: str, shards: list[ClickHouseServer]
) -> None:
    visitors = ", ".join(f"'{v}'" for v in VISITORS)
    for server in shards:
        assert (
            _count_in(
                server,
                f"SELECT count() FROM {database}.events_data_local WHERE "
                f"visitor_id IN ({visitors}) OR member_id = '{member}'",
            )
            == 0
        )
        for table in ("identity_links_local", "members_local", "provisions_local"):
            assert (
                _count_in(
                    server, f"SELECT count() FROM {database}.{table} WHERE member_id = '{member}'"
                )
                == 0
            ), table
    # Everything else stays, and the member and its visitors are suppressed.
    assert _count_in(shards[0], f"SELECT count() FROM {database}.events") == 3
    suppressed = {
        (str(t), str(s))
        for t, s in _rows_in(
            shards[1], f"SELECT subject_type, subject FROM {database}.suppressions"
        )
    }
    assert suppressed == {("member", member)} | {("visitor", v) for v in VISITORS}


def test_a_member_is_erased_on_every_shard(shards: list[ClickHouseServer], tmp_path: Path) -> None:
    url = shards[0].url_for("clm")
    _migrated(url, tmp_path)
    _a_member_on_both_shards(url, "m-1", shards)
    erased = run_cli(
        "subject",
        "erase",
        "--clickhouse-url",
        url,
        "--cluster",
        CLUSTER,
        "--data-dir",
        str(tmp_path),
        "--member",
        "m-1",
        "--reason",
        "member asked",
        check=True,
    )
    assert "rows remaining: 0" in erased.stdout
    assert "physically removed from disk: yes" in erased.stdout
    _nothing_of_the_member_is_left("clm", "m-1", shards)


def _erase_through_the_api(served: Served, member: str) -> tuple[int, dict[str, object]]:
    token = (served.data_dir / "admin.token").read_text().strip()
    request = urllib.request.Request(
        f"{served.url}/admin/subject/erase",
        data=json.dumps({"member": member, "reason": "member asked"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=180) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_erasure_a_shard_cut_short_answers_503_and_finishes_when_sent_again(
    shards: list[ClickHouseServer], tmp_path: Path
) -> None:
    url = shards[0].url_for("cli")
    served = Served(tmp_path / "var", ["--clickhouse-url", url, "--cluster", CLUSTER])
    try:
        _a_member_on_both_shards(url, "m-2", shards)

        # A shard that does not answer: nothing can be read through the Distributed tables.
        shards[1].stop()
        try:
            status, body = _erase_through_the_api(served, "m-2")
        finally:
            shards[1].start()
        assert status == 503, body
        assert "send the same erasure again" in str(body["error"])

        # Part-way: the second shard loses its provisions table after the events, links and
        # member rows were read, so the erasure stops after deleting events and member rows.
        _rows_in(shards[1], "DETACH TABLE cli.provisions_local")
        try:
            status, body = _erase_through_the_api(served, "m-2")
        finally:
            _rows_in(shards[1], "ATTACH TABLE cli.provisions_local")
        assert status == 503, body
        assert "send the same erasure again" in str(body["error"])
        assert _count_in(shards[0], "SELECT count() FROM cli.members WHERE member_id = 'm-2'") == 0
        assert _count_in(shards[0], "SELECT count() FROM cli.identity_links") == len(VISITORS)

        status, body = _erase_through_the_api(served, "m-2")
        assert status == 200, body
        assert (body["rows_remaining"], body["deleted"]) == (0, True)
        assert body["rows"]["provisions"] == 1 and body["rows"]["identity_links"] == len(VISITORS)
        _nothing_of_the_member_is_left("cli", "m-2", shards)
    finally:
        served.stop()
