"""The batch writer against real ClickHouse: batches by size and by age, nothing lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ashiato.beacon.event import Event
from ashiato.storage.backend import Store, connection
from ashiato.storage.schema import EVENT_RECORD, EVENTS_TABLE, migrate
from ashiato.storage.spool import Spool
from ashiato.storage.writer import BatchWriter


class Recorder:
    """Collects what the writer reports."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.drops: list[tuple[int, str]] = []
        self.retries = 0

    def inserted(self, rows: int, seconds: float) -> None:
        self.batches.append(rows)

    def retried(self, reason: str) -> None:
        self.retries += 1

    def dropped(self, rows: int, reason: str) -> None:
        self.drops.append((rows, reason))


def _rows(n: int, site: str = "w") -> list[dict[str, object]]:
    return [
        Event(ts_ms=1_700_000_000_000 + i, kind="pageview", site=site).to_row() for i in range(n)
    ]


def _count(store: Store) -> int:
    with connection(store) as backend:
        return int(backend.query("SELECT count() FROM events").scalar())


def test_full_batches_go_out_at_max_rows_and_the_rest_on_stop(store: Store, tmp_path: Path) -> None:
    with connection(store) as backend:
        migrate(backend)
    seen = Recorder()
    with Spool(tmp_path, columns=EVENT_RECORD) as spool:
        writer = BatchWriter(store, EVENTS_TABLE, spool, max_rows=100, max_delay=60, observer=seen)
        writer.start()
        assert writer.submit(_rows(250))
        deadline = time.monotonic() + 10
        while sum(seen.batches) < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert seen.batches[:2] == [100, 100]
        assert writer.stop(timeout=10) == 0
    assert sum(seen.batches) == 250
    assert _count(store) == 250


def test_a_small_batch_goes_out_once_its_oldest_row_waited_max_delay(
    store: Store, tmp_path: Path
) -> None:
    with connection(store) as backend:
        migrate(backend)
    seen = Recorder()
    with Spool(tmp_path, columns=EVENT_RECORD) as spool:
        writer = BatchWriter(
            store, EVENTS_TABLE, spool, max_rows=10_000, max_delay=0.2, observer=seen
        )
        writer.start()
        started = time.monotonic()
        writer.submit(_rows(3))
        while not seen.batches and time.monotonic() - started < 10:
            time.sleep(0.01)
        waited = time.monotonic() - started
        writer.stop()
    assert seen.batches == [3]
    assert 0.15 <= waited < 5
    assert _count(store) == 3


def test_a_row_missing_a_column_is_refused_at_submit_not_spooled(
    store: Store, tmp_path: Path
) -> None:
    seen = Recorder()
    with Spool(tmp_path, columns=EVENT_RECORD) as spool:
        writer = BatchWriter(store, EVENTS_TABLE, spool, observer=seen)
        row = _rows(1)[0]
        del row["site"]
        assert not writer.submit([row])
        with pytest.raises(ValueError, match="site"):
            writer.append([row])
        assert spool.unacked == 0
    assert seen.drops == [(1, "unencodable")]


def test_a_writer_needs_a_spool_that_declares_its_columns(store: Store, tmp_path: Path) -> None:
    with Spool(tmp_path) as spool, pytest.raises(ValueError, match="declares no columns"):
        BatchWriter(store, EVENTS_TABLE, spool)
