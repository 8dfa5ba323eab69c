"""The spool on real files: order, acknowledgement, segments, recovery from damage, bounds."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ashiato.beacon.vocabulary import FsyncPolicy
from ashiato.storage._segments import HEADER_SIZE, RECORD_HEADER, list_segments, segment_path
from ashiato.storage.deadletter import spool_status
from ashiato.storage.spool import Spool, SpoolError, SpoolFull


def _records(n: int, start: int = 0) -> list[bytes]:
    return [f"record-{i:04d}".encode() for i in range(start, start + n)]


def _read_all(spool: Spool, batch: int = 1000) -> list[bytes]:
    got: list[bytes] = []
    while (read := spool.read(batch)) is not None:
        got.extend(read.records)
    return got


def _only_segment(directory: Path) -> Path:
    (seq,) = list_segments(directory)
    return segment_path(directory, seq)


def _record_offsets(records: list[bytes]) -> list[int]:
    """Where each record starts in a segment holding exactly `records`."""
    offsets, pos = [], HEADER_SIZE
    for record in records:
        offsets.append(pos)
        pos += RECORD_HEADER.size + len(record)
    return offsets


def test_records_come_back_in_order_in_batches_and_ack_forgets_them(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(_records(3))
        spool.append(_records(2, start=3))
        first = spool.read(4)
        assert first is not None
        assert first.records == _records(4)
        second = spool.read(4)
        assert second is not None
        assert second.records == _records(1, start=4)
        assert spool.read(4) is None
        assert spool.unacked == 5
        spool.ack(first.position)
        assert spool.unacked == 1
        spool.ack(second.position)
        assert spool.unacked == 0
        assert spool.acked() == spool.tail()


def test_full_segments_roll_and_are_deleted_once_acknowledged(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=200) as spool:
        for i in range(20):
            spool.append(_records(2, start=2 * i))
        assert len(list_segments(tmp_path)) > 5
        assert spool.stats().segments == len(list_segments(tmp_path))
        batch = spool.read(1000)
        assert batch is not None
        assert batch.records == _records(40)
        spool.ack(batch.position)
        # Only the segment still being written stays.
        assert len(list_segments(tmp_path)) == 1
        assert spool.stats().unacked == 0


def test_records_and_the_ack_position_survive_reopening(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=150) as spool:
        spool.append(_records(10))
        batch = spool.read(4)
        assert batch is not None
        spool.ack(batch.position)
        spool.read(3)  # read but not acknowledged: must come back after a restart
    with Spool(tmp_path) as spool:
        assert spool.unacked == 6
        assert _read_all(spool) == _records(6, start=4)
        spool.append(_records(2, start=10))
        assert _read_all(spool) == _records(2, start=10)


def test_rewind_replays_everything_not_acknowledged(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(_records(5))
        batch = spool.read(2)
        assert batch is not None
        spool.ack(batch.position)
        spool.read(2)
        spool.rewind()
        assert _read_all(spool) == _records(3, start=2)


def _truncate_tail(path: Path, offsets: list[int]) -> None:
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size - 3)


def _zero_length(path: Path, offsets: list[int]) -> None:
    with open(path, "r+b") as file:
        file.seek(offsets[2])
        file.write(b"\x00\x00\x00\x00")


def _flip_checksum_bit(path: Path, offsets: list[int]) -> None:
    data = bytearray(path.read_bytes())
    data[offsets[2] + 5] ^= 0x10
    path.write_bytes(bytes(data))


def _garbage_between(path: Path, offsets: list[int]) -> None:
    data = path.read_bytes()
    garbage = b"\xde\xad\xbe\xef" * 7 + os.urandom(61) + b"\x00" * 300
    path.write_bytes(data[: offsets[3]] + garbage + data[offsets[3] :])


@pytest.mark.parametrize(
    ("damage", "survivors"),
    [
        (_truncate_tail, [0, 1, 2, 3]),
        (_zero_length, [0, 1, 3, 4]),
        (_flip_checksum_bit, [0, 1, 3, 4]),
        (_garbage_between, [0, 1, 2, 3, 4]),
    ],
)
def test_damage_is_skipped_and_counted_and_every_valid_record_recovered(
    tmp_path: Path, damage: Callable[[Path, list[int]], None], survivors: list[int]
) -> None:
    records = _records(5)
    with Spool(tmp_path) as spool:
        spool.append(records)
    damage(_only_segment(tmp_path), _record_offsets(records))
    with Spool(tmp_path) as spool:
        assert spool.stats().corrupt == 1
        assert spool.unacked == len(survivors)
        assert _read_all(spool, batch=2) == [records[i] for i in survivors]
        assert spool.stats().corrupt == 1  # reading past the damage does not count it again
    assert spool_status(tmp_path)["corrupt"] == 1


def test_a_damaged_file_header_loses_no_record(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(_records(3))
    path = _only_segment(tmp_path)
    path.write_bytes(b"XXXXXXXX" + path.read_bytes()[8:])
    with Spool(tmp_path) as spool:
        assert _read_all(spool) == _records(3)
        assert spool.stats().corrupt == 1


def test_a_segment_from_a_newer_format_is_refused_not_destroyed(tmp_path: Path) -> None:
    path = segment_path(tmp_path, 1)
    path.write_bytes(struct.pack(">8sI", b"ASHSPOOL", 99))
    with pytest.raises(SpoolError, match="version 99"):
        Spool(tmp_path)
    assert path.exists()


def test_the_bound_refuses_with_spool_full_and_the_spool_stays_readable(tmp_path: Path) -> None:
    kept: list[bytes] = []
    with Spool(tmp_path, segment_bytes=300, max_bytes=1000) as spool:
        for i in range(100):
            try:
                spool.append(_records(1, start=i))
            except SpoolFull:
                break
            kept.extend(_records(1, start=i))
        else:
            pytest.fail("the bound was never reached")
        assert 10 < len(kept) < 100
        assert spool.stats().bytes <= 1000
        assert _read_all(spool) == kept
    with Spool(tmp_path, max_bytes=1000) as spool:
        assert spool.stats().corrupt == 0
        assert _read_all(spool) == kept


def test_acknowledged_records_make_room_under_the_bound(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=500) as spool:
        spool.append(_records(15))
        with pytest.raises(SpoolFull):
            spool.append(_records(15))
        batch = spool.read(100)
        assert batch is not None
        spool.ack(batch.position)
        spool.append(_records(15, start=15))
        assert _read_all(spool) == _records(15, start=15)


def test_a_killed_process_loses_nothing_append_returned_for(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from ashiato.storage.spool import Spool
        spool = Spool({str(tmp_path)!r}, segment_bytes=200, fsync="never")
        for i in range(10):
            spool.append([f"record-{{5 * i + j:04d}}".encode() for j in range(5)])
        batch = spool.read(20)
        spool.ack(batch.position)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    assert done.returncode == -9
    with Spool(tmp_path) as spool:
        assert spool.unacked == 30
        assert _read_all(spool) == _records(30, start=20)


def test_one_process_at_a_time_and_status_without_opening(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(_records(4))
        with pytest.raises(SpoolError, match="in use"):
            Spool(tmp_path)
        status = spool_status(tmp_path)
        assert status["in_use"] is True
        assert status["unacked"] == 4
        assert spool.stats().oldest_age >= 0
    status = spool_status(tmp_path)
    assert status["in_use"] is False
    assert status["segments"] == 1
    assert status["bytes"] == spool.stats().bytes
    assert status["dead_letters"] == 0


@pytest.mark.parametrize("policy", ["always", "interval", "roll", "never"])
def test_every_fsync_policy_keeps_records(tmp_path: Path, policy: FsyncPolicy) -> None:
    with Spool(tmp_path, fsync=policy, segment_bytes=100, fsync_interval=0.0) as spool:
        spool.append(_records(10))
        spool.sync_due()
    with Spool(tmp_path) as spool:
        assert _read_all(spool) == _records(10)
