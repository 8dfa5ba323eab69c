"""`ingest-log --follow` into a real ClickHouse server, killed with SIGKILL and started again:
every line of the followed file is stored exactly once.

The first run inserts nothing (its batches wait far longer than the test), so when it is killed
its lines exist only in its spool, behind a checkpoint that already moved past them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clickhouse_server import ClickHouseServer
from tests.collector.test_cli import ASHIATO

pytestmark = pytest.mark.server

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _append(log: Path, first: int, last: int) -> None:
    with open(log, "a") as handle:
        for n in range(first, last + 1):
            handle.write(
                f'198.51.100.{n % 250} - - [10/Oct/2024:13:55:36 +0000] "GET /page/{n} HTTP/1.1"'
                f' 200 512 "-" "{UA}"\n'
            )


class Follower:
    """One `ashiato ingest-log --follow` process."""

    def __init__(self, data_dir: Path, url: str, log: Path, batch_ms: int) -> None:
        self.process = subprocess.Popen(
            [
                *ASHIATO,
                "ingest-log",
                "--follow",
                "--clickhouse-url",
                url,
                "--data-dir",
                str(data_dir),
                "--batch-ms",
                str(batch_ms),
                "--site",
                "followed",
                str(log),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def interrupt(self) -> str:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=60)
        return out


@pytest.fixture
def database(clickhouse_server: ClickHouseServer) -> Iterator[str]:
    name = f"follow_crash_{time.monotonic_ns()}"
    yield name
    client = clickhouse_server.client()
    try:
        client.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        client.disconnect()


def _stored(server: ClickHouseServer, database: str) -> tuple[int, int]:
    """Events seen (each event id once) and distinct lines among them; (0, 0) before migrate."""
    client = server.client()
    try:
        if not client.execute(f"EXISTS TABLE {database}.events")[0][0]:
            return 0, 0
        seen, lines = client.execute(
            f"SELECT count(), uniqExact(url) FROM {database}.events WHERE site = 'followed'"
        )[0]
        return int(seen), int(lines)
    finally:
        client.disconnect()


def _wait(predicate: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _checkpointed(data_dir: Path, log: Path) -> bool:
    """The follow checkpoint has moved past the whole file."""
    for state in (data_dir / "follow").glob("follow-*.json"):
        if json.loads(state.read_text())["offset"] == log.stat().st_size:
            return True
    return False


def test_a_killed_follower_loses_and_repeats_no_line(
    clickhouse_server: ClickHouseServer, database: str, tmp_path: Path
) -> None:
    url = clickhouse_server.url_for(database)
    data_dir, log = tmp_path / "var", tmp_path / "access.log"
    _append(log, 1, 300)

    first = Follower(data_dir, url, log, batch_ms=3_600_000)
    try:
        _wait(lambda: _checkpointed(data_dir, log), "the first run's checkpoint")
        assert _stored(clickhouse_server, database) == (0, 0)  # spooled, not inserted
    finally:
        first.kill()
    _append(log, 301, 600)

    second = Follower(data_dir, url, log, batch_ms=100)
    try:
        _wait(lambda: _stored(clickhouse_server, database) == (600, 600), "600 lines")
        _append(log, 601, 700)
        _wait(lambda: _checkpointed(data_dir, log), "the second run's checkpoint")
    finally:
        second.kill()  # maybe before, maybe after inserting 601-700

    third = Follower(data_dir, url, log, batch_ms=100)
    try:
        _wait(lambda: _stored(clickhouse_server, database) == (700, 700), "700 lines")
    finally:
        out = third.interrupt()
    assert "rows wait in" not in out
    assert _stored(clickhouse_server, database) == (700, 700)
