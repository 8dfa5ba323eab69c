"""The batch writer against real ClickHouse: batches by size and by age, nothing lost."""

from __future__ import annotations

import time

from ashiato.beacon.columns import COLUMNS
from ashiato.beacon.event import Event
from ashiato.storage.backend import Store, connection
from ashiato.storage.schema import EVENTS_TABLE, migrate
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


def test_full_batches_go_out_at_max_rows_and_the_rest_on_stop(store: Store) -> None:
    with connection(store) as backend:
        migrate(backend)
    seen = Recorder()
    writer = BatchWriter(store, EVENTS_TABLE, COLUMNS, max_rows=100, max_delay=60, observer=seen)
    writer.start()
    assert writer.submit(_rows(250))
    deadline = time.monotonic() + 10
    while sum(seen.batches) < 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen.batches[:2] == [100, 100]
    assert writer.stop(timeout=10) == 0
    assert sum(seen.batches) == 250
    assert _count(store) == 250


def test_a_small_batch_goes_out_once_its_oldest_row_waited_max_delay(store: Store) -> None:
    with connection(store) as backend:
        migrate(backend)
    seen = Recorder()
    writer = BatchWriter(
        store, EVENTS_TABLE, COLUMNS, max_rows=10_000, max_delay=0.2, observer=seen
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


def test_a_full_queue_refuses_and_counts_instead_of_growing(store: Store) -> None:
    with connection(store) as backend:
        migrate(backend)
    seen = Recorder()
    writer = BatchWriter(
        store, EVENTS_TABLE, COLUMNS, max_rows=10_000, max_delay=60, max_queue=5, observer=seen
    )
    assert writer.submit(_rows(5))
    assert not writer.submit(_rows(1))
    assert seen.drops == [(1, "queue_full")]
    writer.start()
    assert writer.stop() == 0
    assert _count(store) == 5


def test_rows_clickhouse_refuses_are_counted_not_retried_forever(store: Store) -> None:
    with connection(store) as backend:
        migrate(backend)
    seen = Recorder()
    writer = BatchWriter(
        store, "no_such_table", ("site",), max_rows=1, max_delay=0.01, observer=seen
    )
    writer.start()
    writer.submit([{"site": "x"}])
    assert writer.flush(timeout=10)
    writer.stop()
    assert seen.drops == [(1, "rejected")]
    assert seen.retries == 0
