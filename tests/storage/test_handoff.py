"""One spool, two processes' halves: the edge appends and hands over, the loader reads what
was handed over, acknowledges and deletes it."""

from __future__ import annotations

from pathlib import Path

from ashiato.beacon.raw import RAW_LAYOUT
from ashiato.storage.handoff import EdgeSpool, LoaderSpool
from ashiato.storage.spool import SpoolFull


def _records(n: int, prefix: str) -> list[bytes]:
    return [f'["{prefix}{i}"]'.encode() for i in range(n)]


def _read_all(loader: LoaderSpool) -> list[bytes]:
    loader.refresh()
    found = []
    while (batch := loader.read(1000)) is not None:
        found += batch.records
        loader.ack(batch.position)
    return found


def test_the_loader_reads_only_what_the_edge_handed_over(tmp_path: Path) -> None:
    edge = EdgeSpool(tmp_path, columns=RAW_LAYOUT, fsync="never")
    loader = LoaderSpool(tmp_path)
    edge.append(_records(3, "a"))
    assert _read_all(loader) == []  # still being written
    assert edge.handoff()
    edge.append(_records(2, "b"))
    assert _read_all(loader) == _records(3, "a")
    assert edge.handoff()
    assert _read_all(loader) == _records(2, "b")
    # What was acknowledged is deleted; the edge's current segment stays.
    assert len(list(tmp_path.glob("seg-*.log"))) == 1
    edge.close()
    loader.close()


def test_what_a_stopped_edge_wrote_is_loaded_whether_or_not_another_starts(
    tmp_path: Path,
) -> None:
    edge = EdgeSpool(tmp_path, columns=RAW_LAYOUT, fsync="never")
    loader = LoaderSpool(tmp_path)
    edge.append(_records(4, "a"))
    edge.close()  # never handed over: its lock is released, so it is complete
    assert _read_all(loader) == _records(4, "a")
    again = EdgeSpool(tmp_path, columns=RAW_LAYOUT, fsync="never")
    again.append(_records(1, "b"))
    again.close()
    assert _read_all(loader) == _records(1, "b")
    loader.close()


def test_a_new_edge_completes_the_segment_its_predecessor_left(tmp_path: Path) -> None:
    edge = EdgeSpool(tmp_path, columns=RAW_LAYOUT, fsync="never")
    edge.append(_records(2, "a"))
    edge.close()
    again = EdgeSpool(tmp_path, columns=RAW_LAYOUT, fsync="never")  # running, idle
    loader = LoaderSpool(tmp_path)
    assert _read_all(loader) == _records(2, "a")
    assert loader.tail() <= loader.acked()  # nothing more on disk to wait for
    again.close()
    loader.close()


def test_the_edge_keeps_its_bound_while_the_loader_is_behind(tmp_path: Path) -> None:
    edge = EdgeSpool(
        tmp_path, columns=RAW_LAYOUT, fsync="never", max_bytes=64 << 10, segment_bytes=8 << 10
    )
    taken = 0
    try:
        while True:
            edge.append([b'["' + b"x" * 1000 + b'"]'])
            taken += 1
            if taken % 5 == 0:
                edge.handoff()
    except SpoolFull:
        pass
    assert 40 < taken < 70
    edge.close()
