"""The spool-backed writer on real ClickHouse: exactly once, dead letters, outages, restarts."""

from __future__ import annotations

import struct
import time
from datetime import date
from pathlib import Path

import orjson
import pytest

from ashiato.beacon.event import Event
from ashiato.storage._records import encode_row
from ashiato.storage._segments import encode, segment_path
from ashiato.storage.backend import Store, connection
from ashiato.storage.deadletter import dead_letters, redrive, spool_status
from ashiato.storage.native import NativeStore
from ashiato.storage.schema import EVENT_RECORD, EVENTS_TABLE, migrate
from ashiato.storage.spool import Spool, SpoolError
from ashiato.storage.writer import BatchWriter
from tests.clickhouse_server import ClickHouseServer, free_port
from tests.storage.test_writer import Recorder


def _rows(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        Event(ts_ms=1_700_000_000_000 + i, kind="pageview", site="s").to_row()
        for i in range(start, start + n)
    ]


def _counts(store: Store) -> tuple[int, int, int]:
    """Rows through the deduplicating view, distinct event ids, rows physically stored."""
    with connection(store) as backend:
        seen = backend.query("SELECT count(), uniqExact(event_id) FROM events").rows[0]
        stored = backend.query(f"SELECT count() FROM {EVENTS_TABLE}").scalar()
    return int(seen[0]), int(seen[1]), int(stored)


def _migrated(store: Store) -> Store:
    with connection(store) as backend:
        migrate(backend)
    return store


def _unreachable() -> NativeStore:
    return NativeStore(f"clickhouse://default@127.0.0.1:{free_port()}/nowhere")


def _spool(directory: Path, **kwargs: int) -> Spool:
    return Spool(directory, columns=EVENT_RECORD, **kwargs)


def _writer(store: Store, spool: Spool, seen: Recorder) -> BatchWriter:
    return BatchWriter(
        store, EVENTS_TABLE, spool, max_rows=50, max_delay=0.05, backoff_cap=0.2, observer=seen
    )


def test_rows_land_exactly_once_and_leave_the_spool(store: Store, tmp_path: Path) -> None:
    _migrated(store)
    seen = Recorder()
    with _spool(tmp_path) as spool:
        writer = _writer(store, spool, seen)
        writer.start()
        for row in _rows(120):  # one event per request, as the collector sends them
            assert writer.submit([row])
        assert writer.flush(timeout=10)
        assert writer.stop(timeout=5) == 0
        assert spool.stats().unacked == 0
    assert _counts(store) == (120, 120, 120)
    assert sum(seen.batches) == 120
    assert seen.drops == []


def test_a_refused_batch_is_dead_lettered_after_one_try_and_redriven_once_fixed(
    store: Store, tmp_path: Path
) -> None:
    seen = Recorder()
    rows = [{"event_id": f"e{i}", "site": "x", "day": date(2024, 1, 2)} for i in range(3)]
    columns = (("event_id", "String"), ("site", "String"), ("day", "Date"))
    with Spool(tmp_path, columns=columns) as spool:
        writer = BatchWriter(store, "late_table", spool, max_delay=0.01, observer=seen)
        writer.start()
        assert writer.submit(rows)
        assert writer.flush(timeout=10)
        assert writer.stop() == 0
    assert seen.drops == [(3, "dead_letter")]
    assert seen.retries == 0
    (letter,) = dead_letters(tmp_path)
    assert letter.rows == rows
    assert letter.table == "late_table"
    assert "late_table" in letter.error
    assert spool_status(tmp_path)["dead_letters"] == 1

    assert redrive(tmp_path, store) == 0  # still refused: the file stays
    assert len(dead_letters(tmp_path)) == 1
    with connection(store) as backend:
        backend.execute(
            "CREATE TABLE late_table (event_id String, site String, day Date) "
            "ENGINE = MergeTree ORDER BY event_id"
        )
        assert redrive(tmp_path, backend) == 3
        stored = backend.query("SELECT event_id, day FROM late_table ORDER BY event_id").rows
    assert stored == [(f"e{i}", date(2024, 1, 2)) for i in range(3)]
    assert dead_letters(tmp_path) == []


def test_the_spool_bound_refuses_and_counts_instead_of_growing(tmp_path: Path) -> None:
    seen = Recorder()
    with _spool(tmp_path, max_bytes=4000) as spool:
        writer = _writer(_unreachable(), spool, seen)
        accepted = sum(writer.submit([row]) for row in _rows(20))
        assert 0 < accepted < 20
        assert writer.depth == accepted
    assert seen.drops == [(1, "spool_full")] * (20 - accepted)


def test_an_outage_keeps_rows_spooled_and_they_land_when_the_server_comes_back(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    port = free_port()
    seen = Recorder()
    with _spool(tmp_path / "spool") as spool:
        writer = _writer(NativeStore(f"clickhouse://default@127.0.0.1:{port}/back"), spool, seen)
        writer.start()
        assert writer.submit(_rows(5))
        deadline = time.monotonic() + 5
        while seen.retries < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert seen.retries >= 3
        assert writer.depth == 5
        server = ClickHouseServer(tmp_path / "server", port, free_port())
        server.start()
        try:
            # The writer keeps retrying while the database does not exist yet.
            store = NativeStore(server.url_for("back"))
            store.ensure_database()
            _migrated(store)
            assert writer.flush(timeout=15)
            assert writer.stop() == 0
            assert _counts(store) == (5, 5, 5)
        finally:
            server.stop()
    assert seen.drops == []


def test_a_restarted_writer_replays_what_was_left_exactly_once(
    store: Store, tmp_path: Path
) -> None:
    _migrated(store)
    seen = Recorder()
    with _spool(tmp_path) as spool:
        first = _writer(store, spool, seen)
        first.start()
        assert first.submit(_rows(20))
        assert first.flush(timeout=10)
        assert first.stop() == 0
    with _spool(tmp_path) as spool:
        down = _writer(_unreachable(), spool, seen)
        down.start()
        assert down.submit(_rows(30, start=20))
        assert down.stop(timeout=0.3) == 30  # left in the spool, not dropped
    assert seen.drops == []
    assert spool_status(tmp_path)["unacked"] == 30
    with _spool(tmp_path) as spool:
        again = _writer(store, spool, seen)
        again.start()
        assert again.flush(timeout=10)
        assert again.stop() == 0
    assert _counts(store) == (50, 50, 50)


# --- upgrades: the segment header names the columns its rows were spooled with --------------


def _stored(store: Store, column: str) -> list[tuple[str, str]]:
    with connection(store) as backend:
        rows = backend.query(f"SELECT event_id, {column} FROM events ORDER BY ts_ms").rows
    return [(str(a), str(b)) for a, b in rows]


def test_rows_spooled_before_a_column_was_added_land_after_the_upgrade(
    store: Store, tmp_path: Path
) -> None:
    _migrated(store)
    before = tuple(c for c in EVENT_RECORD if c[0] != "screen")  # the release before `screen`
    old_rows = [
        Event(ts_ms=1_700_000_000_000 + i, kind="pageview", site="s").to_row() for i in range(5)
    ]
    with Spool(tmp_path, columns=before) as spool:
        old = BatchWriter(_unreachable(), EVENTS_TABLE, spool)  # stopped before inserting
        assert old.submit(old_rows)
    seen = Recorder()
    new_rows = [
        Event(ts_ms=1_700_000_001_000 + i, kind="pageview", site="s", screen="390x844").to_row()
        for i in range(5)
    ]
    with _spool(tmp_path) as spool:
        writer = _writer(store, spool, seen)
        writer.start()
        assert writer.submit(new_rows)
        assert writer.flush(timeout=10)
        assert writer.stop() == 0
    assert seen.drops == []
    assert _counts(store) == (10, 10, 10)
    assert _stored(store, "screen") == [(str(r["event_id"]), "") for r in old_rows] + [
        (str(r["event_id"]), "390x844") for r in new_rows
    ]
    assert spool_status(tmp_path)["dead_letters"] == 0


def test_rows_of_the_format_before_column_lists_still_land(store: Store, tmp_path: Path) -> None:
    _migrated(store)
    rows = _rows(4)
    # Format 1: a 12-byte header, and rows that name their own columns.
    records = b"".join(encode(orjson.dumps(encode_row(row)), 1_700_000_000_000) for row in rows)
    segment_path(tmp_path, 1).write_bytes(struct.pack(">8sI", b"ASHSPOOL", 1) + records)
    seen = Recorder()
    with _spool(tmp_path) as spool:
        assert spool.unacked == 4
        writer = _writer(store, spool, seen)
        writer.start()
        assert writer.flush(timeout=10)
        assert writer.stop() == 0
    assert seen.drops == []
    assert _counts(store) == (4, 4, 4)


def test_a_spool_a_newer_version_wrote_is_refused_whole_not_dead_lettered(
    tmp_path: Path,
) -> None:
    newer = (*EVENT_RECORD, ("mood", "LowCardinality(String)"))
    with Spool(tmp_path, columns=newer) as spool:
        spool.append([orjson.dumps(["x"] * len(newer))])
    (segment,) = tmp_path.glob("seg-*.log")
    with pytest.raises(SpoolError, match=r"columns this version does not know \(mood\)"):
        _spool(tmp_path)
    assert segment.exists()
    assert not (tmp_path / "dead").exists()
