"""The local spool: events are on disk here before they are acknowledged to the sender.

Records are appended to numbered segment files (format in `storage._segments`); each segment's
header carries the column list its records are laid out in, so a spool written before an
upgrade reads after it. The flusher reads records in order, inserts them, and acknowledges a
position once ClickHouse accepted everything before it. The acknowledged position is kept in a
checkpoint file, so after a crash only unacknowledged records are replayed, and a rolled
segment is deleted once fully acknowledged. One process owns a spool directory at a time (an
exclusive lock file).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ashiato.beacon.vocabulary import FSYNC_POLICIES, FsyncPolicy, spoken
from ashiato.storage._private import open_private, private_dir
from ashiato.storage._records import Columns
from ashiato.storage._segments import (
    RECORD_HEADER,
    Corrupt,
    Position,
    Segment,
    SpoolError,
    encode,
    file_header,
    fsync_directory,
    list_segments,
    read_checkpoint,
    scan,
    scan_file,
    segment_path,
    write_checkpoint,
)

__all__ = [
    "Columns",
    "Position",
    "Spool",
    "SpoolBatch",
    "SpoolError",
    "SpoolFull",
    "SpoolInUse",
    "SpoolStats",
]

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class SpoolFull(SpoolError):
    """The spool reached its size bound or the disk is full; the records were not kept."""


class SpoolInUse(SpoolError):
    """Another process (or another spool in this one) holds the directory."""


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Records read in order; acknowledge `position` once they are safely stored.

    All records of a batch share one layout, `columns` (None: records that name their own).
    """

    records: list[bytes]
    position: Position
    oldest: float
    columns: Columns | None = ()


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """The spool's size and backlog, for metrics."""

    bytes: int
    segments: int
    unacked: int
    oldest_age: float
    corrupt: int


class Spool:
    """An append-only, checksummed, size-bounded queue of records in one directory.

    `columns` is the layout of the records this spool appends, written into the header of each
    new segment. Opening refuses a spool holding segments with columns it does not list (written
    by a newer version), rather than failing on their records one by one.
    """

    LOCK_NAME = "lock"
    """The lock file held by the process that appends (`handoff.EdgeSpool` holds only this)."""
    LOCKS: tuple[str, ...] = ("lock", "read.lock")
    """The lock files this kind of spool holds: one that appends and reads holds both."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        columns: Columns = (),
        segment_bytes: int = 8 << 20,
        max_bytes: int = 512 << 20,
        fsync: FsyncPolicy = "interval",
        fsync_interval: float = 1.0,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be {spoken(FSYNC_POLICIES)}, not {fsync!r}")
        self.directory = Path(directory)
        self.columns: Columns = tuple(columns)
        self._header = file_header(self.columns)
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self._segment_bytes = segment_bytes
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        # Spooled records hold full client addresses: only the service user may read them.
        private_dir(self.directory)
        self._lock_fds: list[int] = []
        for name in self.LOCKS:
            fd = open_private(self.directory / name, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                os.close(fd)
                self._unlock()
                raise SpoolInUse(f"the spool {self.directory} is in use by another writer") from exc
            self._lock_fds.append(fd)
        self._segments: dict[int, Segment] = {}
        self._fd: int | None = None
        self._active: int | None = None
        self._pending: deque[tuple[Position, int]] = deque()
        self._unacked = self._unread = self._corrupt = 0
        self._dirty = self._dir_dirty = self._closed = False
        self._last_sync = time.monotonic()
        self._head_acked: float | None = None
        self._head_unread: float | None = None
        try:
            self._recover()
        except BaseException:
            self._unlock()
            raise

    def _recover(self) -> None:
        checkpoint = read_checkpoint(self.directory)
        seqs = list_segments(self.directory)
        # New segments always number past both, so a stale checkpoint never covers new data.
        self._next_seq = max([*seqs, checkpoint.segment]) + 1
        for seq in seqs:
            path = segment_path(self.directory, seq)
            if seq < checkpoint.segment:
                path.unlink()
                continue
            found = scan_file(path, seq, checkpoint)
            self._check_columns(path, found.segment.columns)
            self._corrupt += found.corrupt
            if found.unacked == 0:
                path.unlink()
                continue
            self._segments[seq] = found.segment
            self._unacked += found.unacked
        self._acked = self._read = self._settle(checkpoint)
        self._unread = self._unacked

    def _check_columns(self, path: Path, columns: Columns | None) -> None:
        if not self.columns or not columns:
            return
        known = {name for name, _ in self.columns}
        unknown = [name for name, _ in columns if name not in known]
        if unknown:
            raise SpoolError(
                f"{path} holds rows with columns this version does not know "
                f"({', '.join(unknown)}): a newer ashiato wrote it. Run that version until the "
                f"spool is empty, or move {path.name} out of {self.directory}"
            )

    # -- appending -------------------------------------------------------------------------

    def append(self, records: Sequence[bytes]) -> None:
        """Store records; once this returns they survive the process being killed."""
        if not records:
            return
        if not all(records):
            raise ValueError("spool records must not be empty")
        now_ms = int(time.time() * 1000)
        blob = b"".join(encode(record, now_ms) for record in records)
        with self._lock:
            self._check_open()
            size = self._tail_size()
            if size > len(self._header) and size + len(blob) > self._segment_bytes:
                self._roll()
            self._make_room(len(blob))
            try:
                segment = self._writable()
                self._write(blob, segment.size)
            except SpoolFull:
                # The disk is full; acknowledged records may be what fills it: free them, retry.
                if not self._free_acked():
                    raise
                segment = self._writable()
                self._write(blob, segment.size)
            segment.size += len(blob)
            if self._unacked == 0:
                self._head_acked = now_ms / 1000
            if self._unread == 0:
                self._head_unread = now_ms / 1000
            self._unacked += len(records)
            self._unread += len(records)
            self._dirty = True
            if self.fsync == "always":
                self._sync_locked()
        self.sync_due()

    def _make_room(self, needed: int) -> None:
        if self._bytes() + needed + len(self._header) <= self._max_bytes:
            return
        self._free_acked()
        if self._bytes() + needed + len(self._header) > self._max_bytes:
            raise SpoolFull(f"the spool {self.directory} is full ({self._max_bytes} bytes)")

    def _free_acked(self) -> bool:
        """Delete the segments holding only acknowledged records; True if any was deleted."""
        before = len(self._segments)
        # Acknowledged records in the active segment still take space until it is deleted.
        if self._active is not None and self._acked >= Position(self._active, self._tail_size()):
            self._roll()
            self._release(self._settle(self._acked))
        return len(self._segments) < before

    def _writable(self) -> Segment:
        if self._active is not None:
            return self._segments[self._active]
        seq = self._next_seq
        path = segment_path(self.directory, seq)
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND)
        segment = Segment(0, False, {}, len(self._header), self.columns)
        self._fd, self._active, self._next_seq = fd, seq, seq + 1
        self._segments[seq] = segment
        self._dir_dirty = True
        try:
            self._write(self._header, 0)
        except BaseException:
            os.close(fd)
            path.unlink()
            del self._segments[seq]
            self._fd = self._active = None
            raise
        segment.size = len(self._header)
        return segment

    def _write(self, data: bytes, good_size: int) -> None:
        """Write all of `data`; on failure cut the file back to `good_size` and raise."""
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            # A half-written record would read as corruption; cut it off so the spool stays clean.
            os.ftruncate(self._fd, good_size)
            if exc.errno in _FULL_ERRNOS:
                raise SpoolFull(f"no space left for the spool {self.directory}: {exc}") from exc
            raise SpoolError(f"cannot write to the spool {self.directory}: {exc}") from exc

    def _roll(self) -> None:
        if self._fd is None or self._active is None:
            return
        if self.fsync != "never":
            os.fdatasync(self._fd)
            fsync_directory(self.directory)
            self._dirty = self._dir_dirty = False
        os.close(self._fd)
        self._segments[self._active].rolled = True
        self._fd = self._active = None

    # -- reading and acknowledging ---------------------------------------------------------

    def read(self, max_records: int) -> SpoolBatch | None:
        """The next records not yet read, up to `max_records`; None when there are none.

        A batch ends where a segment of another column list begins.
        """
        with self._lock:
            self._check_open()
            pos = self._settle(self._read)
            records: list[bytes] = []
            columns: Columns | None = ()
            oldest: int | None = None
            while len(records) < max_records:
                segment = self._segments.get(pos.segment)
                if segment is None or pos.offset >= segment.size:
                    break
                if records and segment.columns != columns:
                    break
                columns = segment.columns
                with open(segment_path(self.directory, pos.segment), "rb") as file:
                    file.seek(pos.offset)
                    data = file.read(segment.size - pos.offset)
                for item in scan(data, pos.offset, base=pos.offset):
                    if isinstance(item, Corrupt):
                        if item.start not in segment.bad:
                            self._corrupt_at_read(segment, item)
                    else:
                        records.append(item.payload)
                        oldest = item.ts_ms if oldest is None else oldest
                    pos = Position(pos.segment, item.end)
                    if len(records) >= max_records:
                        break
                pos = self._settle(pos)
            self._read = pos
            if not records:
                return None
            self._unread = max(0, self._unread - len(records))
            self._head_unread = None
            self._pending.append((pos, len(records)))
            return SpoolBatch(records, pos, (oldest or 0) / 1000, columns)

    def _corrupt_at_read(self, segment: Segment, item: Corrupt) -> None:
        # Damage that appeared after the record was counted: count it, and drop the record it
        # most likely was from the backlog counts (they are recounted exactly on the next open).
        self._corrupt += 1
        segment.bad = dict(sorted({**segment.bad, item.start: item.end}.items()))
        self._unacked = max(0, self._unacked - 1)
        self._unread = max(0, self._unread - 1)

    def ack(self, position: Position) -> None:
        """Everything before `position` (from a `read` batch) is stored: forget it for good."""
        with self._lock:
            self._check_open()
            while self._pending and self._pending[0][0] <= position:
                self._unacked = max(0, self._unacked - self._pending.popleft()[1])
            settled = self._settle(position)
            if settled <= self._acked:
                return
            self._acked = settled
            self._read = max(self._read, settled)
            self._head_acked = None
            durable = self.fsync != "never"
            try:
                write_checkpoint(self.directory, settled, durable=durable)
            except OSError as exc:
                if exc.errno not in _FULL_ERRNOS:
                    raise
                # No room for the checkpoint, perhaps because acknowledged segments fill the
                # disk: delete them first (a stale checkpoint only means a replay), then retry.
                self._free_acked()
                self._release(settled)
                write_checkpoint(self.directory, settled, durable=durable)
            self._release(settled)

    def refresh(self) -> None:
        """Pick up records another process added (a spool read here and written elsewhere)."""

    def rewind(self) -> None:
        """Read again from the first unacknowledged record (a new flusher starting over)."""
        with self._lock:
            self._read = self._acked
            self._unread = self._unacked
            self._head_unread = self._head_acked
            self._pending.clear()

    def _settle(self, pos: Position) -> Position:
        """`pos` moved past corrupt regions and finished segments to where a record may start."""
        while True:
            segment = self._segments.get(pos.segment)
            later = [seq for seq in self._segments if seq > pos.segment]
            if segment is None:
                if not later:
                    return pos
                pos = Position(later[0], self._segments[later[0]].start)
                continue
            offset = max(pos.offset, segment.start)
            for start, end in segment.bad.items():
                if start <= offset < end:
                    offset = end
            if segment.rolled and offset >= segment.size and later:
                pos = Position(later[0], self._segments[later[0]].start)
                continue
            return Position(pos.segment, offset)

    def _release(self, acked: Position) -> None:
        """Delete rolled segments that hold nothing unacknowledged."""
        for seq, segment in list(self._segments.items()):
            done = seq < acked.segment or (seq == acked.segment and acked.offset >= segment.size)
            if done and segment.rolled:
                segment_path(self.directory, seq).unlink(missing_ok=True)
                del self._segments[seq]
                self._dir_dirty = True

    # -- state -----------------------------------------------------------------------------

    @property
    def unacked(self) -> int:
        """Records stored and not yet acknowledged."""
        return self._unacked

    def pending(self) -> tuple[int, float | None]:
        """Records not yet read, and when the oldest of them was appended (Unix seconds)."""
        with self._lock:
            if self._unread and self._head_unread is None:
                self._head_unread = self._peek_time(self._read)
            return self._unread, self._head_unread if self._unread else None

    def tail(self) -> Position:
        """The position just past the last record appended so far."""
        with self._lock:
            if not self._segments:
                return self._acked
            last = max(self._segments)
            return Position(last, self._segments[last].size)

    def acked(self) -> Position:
        """The position up to which everything is acknowledged."""
        with self._lock:
            return self._acked

    def stats(self) -> SpoolStats:
        """Bytes on disk, segments, backlog and its age, corrupt records skipped."""
        with self._lock:
            age = 0.0
            if self._unacked and not self._closed:
                if self._head_acked is None:
                    self._head_acked = self._peek_time(self._acked)
                age = max(0.0, time.time() - self._head_acked)
            return SpoolStats(self._bytes(), len(self._segments), self._unacked, age, self._corrupt)

    def _peek_time(self, pos: Position) -> float:
        """When the record at `pos` was appended; now if it cannot be read."""
        pos = self._settle(pos)
        try:
            with open(segment_path(self.directory, pos.segment), "rb") as file:
                file.seek(pos.offset)
                header = file.read(RECORD_HEADER.size)
            return float(RECORD_HEADER.unpack(header)[2]) / 1000
        except Exception:  # a metric must not fail: a damaged head counts as new
            return time.time()

    def _bytes(self) -> int:
        return sum(segment.size for segment in self._segments.values())

    def _tail_size(self) -> int:
        return self._segments[self._active].size if self._active is not None else 0

    # -- durability and lifetime -----------------------------------------------------------

    def sync(self) -> None:
        """Force appended records to stable storage now (whatever the policy)."""
        with self._lock:
            if self._closed:
                return
            # Sync a duplicate descriptor outside the lock, so appends on the event loop never
            # wait for the disk; a roll meanwhile closes only the original.
            fd = os.dup(self._fd) if self._dirty and self._fd is not None else None
            directory = self._dir_dirty
            self._dirty = self._dir_dirty = False
            self._last_sync = time.monotonic()
        try:
            if fd is not None:
                os.fdatasync(fd)
            if directory:
                fsync_directory(self.directory)
        except OSError:
            self._dirty = self._dir_dirty = True
            raise
        finally:
            if fd is not None:
                os.close(fd)

    def sync_due(self) -> None:
        """Under the "interval" policy, sync if the interval has passed since the last sync."""
        if self.fsync == "interval" and time.monotonic() - self._last_sync >= self.fsync_interval:
            self.sync()

    def _sync_locked(self) -> None:
        if self._dirty and self._fd is not None:
            os.fdatasync(self._fd)
        if self._dir_dirty:
            fsync_directory(self.directory)
        self._dirty = self._dir_dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync (unless the policy is "never"), close the files and release the directory."""
        with self._lock:
            if self._closed:
                return
            if self.fsync != "never":
                self._sync_locked()
            if self._fd is not None:
                os.close(self._fd)
            self._fd = self._active = None
            self._closed = True
            self._unlock()

    def _unlock(self) -> None:
        for fd in self._lock_fds:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._lock_fds.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise SpoolError(f"the spool {self.directory} is closed")

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
