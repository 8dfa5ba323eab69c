"""Four real ClickHouse servers as two shards of two replicas, coordinated by Debian's ZooKeeper:
migrate creates ReplicatedReplacingMergeTree shards, two collectors insert through the
Distributed tables, both replicas of a shard hold the same rows, and an erasure leaves nothing of
the subject on any server.

Slow (a JVM and four servers start): `make test-slow`, or `pytest -m slow` on this file.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver.errors import Error as ClickHouseError

from tests.clickhouse_server import ClickHouseServer, free_port
from tests.collector.test_cli import Served, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.server]

CLUSTER = "ashiato_rep"
ZOOKEEPER_HOME = Path("/usr/share/zookeeper")
ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
ZOOKEEPER_SCRIPT = ZOOKEEPER_HOME / "bin" / "zkServer.sh"
SHARDS, REPLICAS = 2, 2
VISITORS, HITS = 40, 5


def _zookeeper_missing() -> str:
    """Why Debian's ZooKeeper cannot be started here, or "" when it can."""
    if not ZOOKEEPER_HOME.is_dir():
        return f"{ZOOKEEPER_HOME} is missing: apt-get install zookeeperd"
    if not ZOOKEEPER_JAR.is_file() or not ZOOKEEPER_SCRIPT.is_file():
        return f"{ZOOKEEPER_JAR} or {ZOOKEEPER_SCRIPT} is missing: apt-get install zookeeperd"
    if shutil.which("java") is None:
        return "java is missing (Debian's zookeeper package depends on a JRE)"
    return ""


def _four_letter(port: int, word: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(word)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A standalone ZooKeeper in the foreground on a free loopback port; yields the port."""
    missing = _zookeeper_missing()
    if missing:
        pytest.skip(f"replicated cluster test needs Debian's ZooKeeper: {missing}")
    base = tmp_path_factory.mktemp("zookeeper")
    port = free_port()
    config = base / "zoo.cfg"
    config.write_text(
        "tickTime=500\n"
        "initLimit=10\n"
        "syncLimit=5\n"
        f"dataDir={base / 'data'}\n"
        f"clientPort={port}\n"
        "clientPortAddress=127.0.0.1\n"
        "maxClientCnxns=0\n"
        "admin.enableServer=false\n"
        "4lw.commands.whitelist=ruok\n"
    )
    (base / "data").mkdir()
    # What `zkServer.sh start-foreground` runs, without its /var/log/zookeeper and JMX.
    command = [
        "java",
        f"-Dzookeeper.log.dir={base}",
        "-Dzookeeper.root.logger=WARN,CONSOLE",
        "-Xmx256m",
        "-cp",
        f"/etc/zookeeper/conf:{ZOOKEEPER_JAR}",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(config),
    ]
    with open(base / "zookeeper.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=base)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"zookeeper exited with {process.returncode}; see {base}/zookeeper.log"
                )
            try:
                if _four_letter(port, b"ruok") == b"imok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"zookeeper did not answer; see {base}/zookeeper.log")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def replicas(
    zookeeper: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[list[ClickHouseServer]]]:
    """Two shards of two replicas each: servers[shard][replica]."""
    ports = [[free_port() for _ in range(REPLICAS)] for _ in range(SHARDS)]
    remote = (
        f"<remote_servers><{CLUSTER}>"
        + "".join(
            "<shard><internal_replication>true</internal_replication>"
            + "".join(
                f"<replica><host>127.0.0.1</host><port>{port}</port></replica>" for port in shard
            )
            + "</shard>"
            for shard in ports
        )
        + f"</{CLUSTER}></remote_servers>"
    )
    keeper = (
        f"<zookeeper><node><host>127.0.0.1</host><port>{zookeeper}</port></node>"
        "<session_timeout_ms>30000</session_timeout_ms></zookeeper>"
    )
    base = tmp_path_factory.mktemp("replicated")
    servers = [
        [
            ClickHouseServer(
                base / f"s{s + 1}r{r + 1}",
                ports[s][r],
                free_port(),
                remote
                + keeper
                + f"<macros><shard>{s + 1:02d}</shard><replica>r{r + 1}</replica></macros>"
                + f"<interserver_http_port>{free_port()}</interserver_http_port>"
                + "<interserver_http_host>127.0.0.1</interserver_http_host>",
            )
            for r in range(REPLICAS)
        ]
        for s in range(SHARDS)
    ]
    everyone = [server for shard in servers for server in shard]
    try:
        for server in everyone:
            server.start()
        yield servers
    finally:
        for server in everyone:
            server.stop()


def _rows(server: ClickHouseServer, sql: str) -> list[tuple[object, ...]]:
    client = server.client("cl")
    try:
        return list(client.execute(sql))
    finally:
        client.disconnect()


def _count(server: ClickHouseServer, sql: str) -> int:
    return int(str(_rows(server, sql)[0][0]))


def _wait_count(server: ClickHouseServer, sql: str, expected: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = _count(server, sql)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


def _sync(server: ClickHouseServer, table: str) -> None:
    """Let the replica fetch every part its shard's log has (18.16 has SYSTEM SYNC REPLICA)."""
    _rows(server, f"SYSTEM SYNC REPLICA cl.{table}")


def test_two_shards_of_two_replicas_end_to_end(
    replicas: list[list[ClickHouseServer]], tmp_path: Path
) -> None:
    everyone = [server for shard in replicas for server in shard]
    started = time.monotonic()
    url = replicas[0][0].url_for("cl")
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
    for server in everyone:
        engines = {
            str(name): str(engine)
            for name, engine in _rows(
                server, "SELECT name, engine FROM system.tables WHERE database = 'cl'"
            )
        }
        assert engines["events_data_local"] == "ReplicatedReplacingMergeTree", engines
        assert engines["identity_links_local"] == "ReplicatedMergeTree", engines
        assert engines["events_data"] == "Distributed", engines
        assert engines["events"] == "View", engines
    print(f"\nmigrate on 4 servers: {time.monotonic() - started:.1f}s")

    # One collector per shard's first replica; collectors of a deployment share keys.json.
    entries = [replicas[0][0], replicas[1][1]]
    collectors: list[Served] = []
    try:
        for i, entry in enumerate(entries):
            data_dir = tmp_path / f"c{i}"
            if collectors:
                data_dir.mkdir()
                shutil.copy(tmp_path / "c0" / "keys.json", data_dir / "keys.json")
            collectors.append(
                Served(
                    data_dir,
                    [
                        "--clickhouse-url",
                        entry.url_for("cl"),
                        "--cluster",
                        CLUSTER,
                        "--batch-ms",
                        "100",
                    ],
                )
            )
        sent = 0
        for visitor in range(VISITORS):
            cookie = ""
            for hit in range(HITS):
                collector = collectors[(visitor + hit) % len(collectors)]
                request = urllib.request.Request(
                    f"{collector.url}/b.gif?s=shop&c=statistics,personalization&u=/{hit}",
                    headers={"Cookie": f"ashiato_vid={cookie}"} if cookie else {},
                )
                with urllib.request.urlopen(request) as response:
                    cookie = cookie or response.headers["Set-Cookie"].split(";")[0].split("=")[1]
                sent += 1
        assert sent == VISITORS * HITS
        inserted = time.monotonic()

        # Every server sees every hit through the Distributed table and the `events` view.
        for server in everyone:
            assert _wait_count(server, "SELECT count() FROM events", sent) == sent
        for shard in replicas:
            for server in shard:
                _sync(server, "events_data_local")
        print(f"ingest visible everywhere: {time.monotonic() - inserted:.1f}s")

        # Replicas of a shard hold the same rows; shards split the visitors between them.
        per_shard = []
        for shard in replicas:
            counts = [_count(s, "SELECT count() FROM events_data_local") for s in shard]
            ids = [
                _rows(
                    s,
                    "SELECT groupArray(event_id) FROM (SELECT event_id FROM"
                    " events_data_local ORDER BY event_id)",
                )[0][0]
                for s in shard
            ]
            assert counts[0] == counts[1] > 0, counts
            assert ids[0] == ids[1]
            per_shard.append(counts[0])
        assert sum(per_shard) == sent
        visitors_per_shard = [
            _count(shard[0], "SELECT uniqExact(visitor_id) FROM events_data_local")
            for shard in replicas
        ]
        assert sum(visitors_per_shard) == VISITORS  # one visitor's events never span shards

        erased_visitor = str(
            _rows(replicas[1][0], "SELECT any(visitor_id) FROM events_data_local")[0][0]
        )
        erasing = time.monotonic()
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
            erased_visitor,
            "--reason",
            "erasure on a replicated cluster",
            check=True,
        )
        assert "rows remaining: 0" in erased.stdout, erased.stdout
        assert "physically removed from disk: yes" in erased.stdout, erased.stdout
        print(f"erase: {time.monotonic() - erasing:.1f}s")
        # Done means done on every replica: no waiting for replication here.
        for server in everyone:
            where = f"visitor_id = '{erased_visitor}'"
            assert _count(server, f"SELECT count() FROM events_data_local WHERE {where}") == 0
            assert _count(server, f"SELECT count() FROM events WHERE {where}") == 0
            assert _count(server, "SELECT count() FROM events") == sent - HITS
        audit = run_cli(
            "audit",
            "--clickhouse-url",
            replicas[1][1].url_for("cl"),
            "--cluster",
            CLUSTER,
            "--data-dir",
            str(tmp_path / "c1"),
            check=True,
        )
        assert "erasure on a replicated cluster" in audit.stdout
    except ClickHouseError:
        for server in everyone:
            print(server.directory, (server.directory / "log" / "error.log").read_text()[-2000:])
        raise
    finally:
        for collector in collectors:
            collector.stop()
    print(f"total: {time.monotonic() - started:.1f}s")
