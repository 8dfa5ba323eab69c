"""The spool on a really full disk (ENOSPC, on a small tmpfs): clean refusals, nothing lost.

A refused append leaves no trace (not even half a record), everything appended before stays
readable after reopening, appends work again once there is room, and the writer counts a
refusal instead of raising. Mounting needs root; CI runs as root, elsewhere these skip.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ashiato.beacon.event import Event
from ashiato.storage._segments import (
    HEADER_SIZE,
    RECORD_HEADER,
    list_segments,
    scan_file,
    segment_path,
)
from ashiato.storage.native import NativeStore
from ashiato.storage.schema import EVENT_RECORD, EVENTS_TABLE
from ashiato.storage.spool import Position, Spool, SpoolFull
from ashiato.storage.writer import BatchWriter
from tests.clickhouse_server import free_port
from tests.storage.test_writer import Recorder

PAGE = os.sysconf("SC_PAGE_SIZE")
NO_BOUND = 1 << 40  # the spool's own size bound must never be what refuses here


class SmallDisk:
    """A 256 KiB tmpfs that a filler file keeps all but a few pages of full."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def leave_free(self, pages: int) -> None:
        """Fill the disk to ENOSPC, then give back exactly `pages` pages."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            chunk = b"\xff" * (64 << 10)
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
            size = os.fstat(fd).st_size
            os.ftruncate(fd, size - size % PAGE - pages * PAGE)
        finally:
            os.close(fd)
        assert self.free_bytes() == pages * PAGE

    def free_bytes(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

    def release(self) -> None:
        """Free the space the filler held."""
        self.filler.unlink()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("filling a real disk needs a tmpfs, and mounting one needs root")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount are not installed")
    root = tmp_path / "disk"
    root.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (no CAP_SYS_ADMIN?): {done.stderr.strip()}")
    try:
        yield SmallDisk(root)
    finally:
        if subprocess.run(["umount", str(root)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(root)], check=False)


def _record(i: int, size: int) -> bytes:
    return f"record-{i:04d}-".encode().ljust(size, b".")


def _read_all(spool: Spool) -> list[bytes]:
    got: list[bytes] = []
    while (batch := spool.read(1000)) is not None:
        got.extend(batch.records)
    return got


def _on_disk(directory: Path) -> tuple[int, int, int]:
    """Bytes in segment files, and the valid records and corrupt regions a raw scan finds."""
    size = records = corrupt = 0
    for seq in list_segments(directory):
        path = segment_path(directory, seq)
        found = scan_file(path, seq, Position(0, 0))
        size += path.stat().st_size
        records += found.unacked
        corrupt += found.corrupt
    return size, records, corrupt


def _fill(spool: Spool, size: int, start: int = 0) -> list[bytes]:
    """Append one record at a time until the disk refuses; the records that were kept."""
    kept: list[bytes] = []
    for i in range(start, start + 1000):
        try:
            spool.append([_record(i, size)])
        except SpoolFull as exc:
            assert "no space left" in str(exc)
            assert isinstance(exc.__cause__, OSError)
            assert exc.__cause__.errno == errno.ENOSPC
            return kept
        kept.append(_record(i, size))
    pytest.fail("the disk never filled up")


@pytest.mark.parametrize("segment_bytes", [8 << 20, 3000], ids=["one-segment", "rolling"])
def test_a_full_disk_refuses_cleanly_keeps_everything_before_and_recovers(
    disk: SmallDisk, segment_bytes: int
) -> None:
    disk.leave_free(4)
    directory = disk.root / "spool"
    with Spool(directory, segment_bytes=segment_bytes, max_bytes=NO_BOUND) as spool:
        kept = _fill(spool, 1000)
        assert 5 < len(kept) < 20
        assert spool.unacked == len(kept)
        assert spool.stats().bytes == _on_disk(directory)[0]
        with pytest.raises(SpoolFull):  # refusing again changes nothing either
            spool.append([_record(999, 1000)])
        assert _read_all(spool) == kept
    assert _on_disk(directory)[1:] == (len(kept), 0)

    # Opening needs no space: the full disk is still full here.
    with Spool(directory, segment_bytes=segment_bytes, max_bytes=NO_BOUND) as spool:
        assert spool.stats().corrupt == 0
        assert spool.unacked == len(kept)
        assert _read_all(spool) == kept
        disk.release()
        more = [_record(i, 1000) for i in range(100, 130)]
        for record in more:
            spool.append([record])
        assert _read_all(spool) == more

    with Spool(directory, max_bytes=NO_BOUND) as spool:
        assert spool.stats().corrupt == 0
        assert _read_all(spool) == kept + more


def test_a_record_torn_by_enospc_is_cut_back_to_the_last_whole_record(disk: SmallDisk) -> None:
    disk.leave_free(3)
    directory = disk.root / "spool"
    size = 1500  # 1516 bytes with its header: records straddle page boundaries
    with Spool(directory, max_bytes=NO_BOUND, fsync="always") as spool:
        kept: list[bytes] = []
        for i in range(100):
            before = spool.tail()
            try:
                spool.append([_record(i, size)])
            except SpoolFull:
                break
            kept.append(_record(i, size))
        else:
            pytest.fail("the disk never filled up")
        (seq,) = list_segments(directory)
        path = segment_path(directory, seq)
        good = HEADER_SIZE + len(kept) * (RECORD_HEADER.size + size)
        # The last page was part used, so the kernel wrote the start of the refused record
        # into it before ENOSPC: a torn write, which must have been cut off again.
        assert good % PAGE != 0
        assert good + RECORD_HEADER.size + size > 3 * PAGE
        assert path.stat().st_size == good == before.offset == spool.tail().offset
    assert _on_disk(directory)[1:] == (len(kept), 0)
    with Spool(directory, max_bytes=NO_BOUND) as spool:
        assert spool.stats().corrupt == 0
        assert _read_all(spool) == kept


def test_a_refused_append_of_many_records_keeps_none_of_them(disk: SmallDisk) -> None:
    disk.leave_free(2)
    directory = disk.root / "spool"
    with Spool(directory, max_bytes=NO_BOUND) as spool:
        first = [_record(0, 1000), _record(1, 1000)]
        spool.append(first)
        # Five of these fit whole before the disk is full: they go too, the append is refused.
        with pytest.raises(SpoolFull):
            spool.append([_record(i, 1000) for i in range(2, 12)])
        assert spool.unacked == 2
        assert _on_disk(directory) == (spool.stats().bytes, 2, 0)
    with Spool(directory, max_bytes=NO_BOUND) as spool:
        assert spool.stats().corrupt == 0
        assert _read_all(spool) == first


def test_no_space_for_a_new_segment_leaves_no_empty_segment_behind(disk: SmallDisk) -> None:
    disk.leave_free(3)
    directory = disk.root / "spool"
    size = PAGE - HEADER_SIZE - RECORD_HEADER.size  # each segment is exactly one page
    with Spool(directory, segment_bytes=PAGE, max_bytes=NO_BOUND) as spool:
        kept = _fill(spool, size)
        assert len(kept) == 3
        assert len(list_segments(directory)) == 3  # the refused fourth segment was removed
        disk.release()
        spool.append([_record(3, size)])
        kept.append(_record(3, size))
    with Spool(directory, max_bytes=NO_BOUND) as spool:
        assert spool.stats().corrupt == 0
        assert _read_all(spool) == kept


@pytest.mark.parametrize("segment_bytes", [8 << 20, 3000], ids=["one-segment", "rolling"])
def test_acknowledged_records_that_fill_the_disk_make_room_again(
    disk: SmallDisk, segment_bytes: int
) -> None:
    directory = disk.root / "spool"
    with Spool(directory, segment_bytes=segment_bytes, max_bytes=NO_BOUND) as spool:
        kept = _fill(spool, 1000)  # the spool itself filled the disk
        batch = spool.read(1000)
        assert batch is not None
        assert batch.records == kept
        spool.ack(batch.position)  # needs room for the checkpoint: acked segments make it
        assert spool.unacked == 0
        spool.append([_record(5000, 1000)])
    with Spool(directory, max_bytes=NO_BOUND) as spool:
        assert spool.stats().corrupt == 0
        assert _read_all(spool) == [_record(5000, 1000)]


def test_the_writer_counts_a_full_disk_as_spool_full_instead_of_raising(disk: SmallDisk) -> None:
    disk.leave_free(2)
    seen = Recorder()
    rows = [
        Event(ts_ms=1_700_000_000_000 + i, kind="pageview", site="s").to_row() for i in range(500)
    ]
    with Spool(disk.root / "spool", columns=EVENT_RECORD, max_bytes=NO_BOUND) as spool:
        writer = BatchWriter(
            NativeStore(f"clickhouse://default@127.0.0.1:{free_port()}/nowhere"),
            EVENTS_TABLE,
            spool,
            observer=seen,
        )
        accepted = 0
        while writer.submit([rows[accepted]]):
            accepted += 1
            assert accepted < 400, "the disk never filled up"
        assert accepted > 0
        assert not writer.submit(rows[accepted : accepted + 5])
        assert seen.drops == [(1, "spool_full"), (5, "spool_full")]
        assert writer.depth == accepted
        disk.release()
        assert writer.submit(rows[accepted : accepted + 5])
        assert writer.depth == accepted + 5
        assert seen.drops == [(1, "spool_full"), (5, "spool_full")]
    with Spool(disk.root / "spool", columns=EVENT_RECORD) as spool:
        assert spool.stats().corrupt == 0
        assert spool.unacked == accepted + 5
