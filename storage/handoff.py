"""One spool directory, two processes: the edge appends, the loader reads and acknowledges.

The edge (`EdgeSpool`) only ever appends to its newest segment, and hands a segment over by
starting the next one: a segment is complete once a later one exists, or once no edge holds
the directory's lock (it stopped, or was killed: what it wrote before is all there is). The
loader (`LoaderSpool`) reads complete segments only, so it never meets a record half written,
writes the checkpoint and deletes what it acknowledged. Neither rewrites what the other owns:
segment numbers only grow (the edge numbers past the checkpoint and every file it finds), and
only the loader deletes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from ashiato.storage._segments import (
    FILE_HEADER,
    Position,
    SpoolError,
    fsync_directory,
    is_locked,
    list_segments,
    read_checkpoint,
    scan_file,
    segment_path,
)
from ashiato.storage.spool import Spool, SpoolFull, SpoolStats

__all__ = ["EdgeSpool", "LoaderSpool", "complete_segments"]


def _usage(directory: Path) -> int:
    """Bytes of the segment files in `directory`."""
    total = 0
    for seq in list_segments(directory):
        try:
            total += segment_path(directory, seq).stat().st_size
        except FileNotFoundError:  # the loader deleted it meanwhile
            continue
    return total


def _records_start(path: Path) -> int:
    """Where the records of the segment at `path` begin (past its header)."""
    try:
        with open(path, "rb") as file:
            head = file.read(FILE_HEADER.size)
    except FileNotFoundError:
        return 0
    if len(head) < FILE_HEADER.size:
        return FILE_HEADER.size
    length: int = FILE_HEADER.unpack(head)[2]
    return FILE_HEADER.size + length


def complete_segments(directory: Path, seqs: Sequence[int]) -> list[int]:
    """Those of `seqs` no edge will append to again: all but the newest while an edge runs."""
    if not seqs:
        return []
    if is_locked(directory / EdgeSpool.LOCK_NAME):
        return list(seqs[:-1])
    return list(seqs)


class EdgeSpool(Spool):
    """The appending half: records go to the newest segment; `handoff` completes it."""

    LOCKS = (Spool.LOCK_NAME,)

    def _recover(self) -> None:
        checkpoint = read_checkpoint(self.directory)
        seqs = list_segments(self.directory)
        self._next_seq = max([*seqs, checkpoint.segment]) + 1
        self._acked = self._read = Position(self._next_seq, 0)
        self._others = _usage(self.directory)
        self._counted_at = time.monotonic()
        # A segment of our own at once: what an edge before us left is complete from now on,
        # whether or not a hit comes.
        self._writable()

    def handoff(self) -> bool:
        """Complete the current segment for the loader, if it holds records; True if it did.

        The next segment is created at once: its existence is what tells the loader the
        previous one is complete. The completed segment is synced (unless the policy is
        "never") after the lock is released, so appends never wait for the disk here.
        """
        with self._lock:
            self._check_open()
            if self._active is None or self._tail_size() <= len(self._header):
                return False
            fd, done = self._fd, self._segments.pop(self._active)
            self._fd = self._active = None
            self._others += done.size
            self._writable()
            self._dirty = False
        assert fd is not None
        try:
            if self.fsync != "never":
                os.fdatasync(fd)
                fsync_directory(self.directory)  # the new segment's name
        finally:
            os.close(fd)
        return True

    def sync_due(self) -> None:
        """Nothing on the appending thread (the event loop): `handoff`, every 0.2 s on a
        thread of its own, forces each segment to disk as it hands it over, which is sooner
        than the `interval` policy asks."""

    def _roll(self) -> None:
        """A segment full by size: hand it over and start the next in the same append."""
        if self._fd is None or self._active is None:
            return
        if self.fsync != "never":
            os.fdatasync(self._fd)
        os.close(self._fd)
        done = self._segments.pop(self._active)
        self._others += done.size
        self._fd = self._active = None

    def _make_room(self, needed: int) -> None:
        if self._bytes() + needed + len(self._header) <= self._max_bytes:
            return
        # The loader deletes what it stored; count again, at most every half second.
        if time.monotonic() - self._counted_at >= 0.5:
            self._others = _usage(self.directory) - self._tail_size()
            self._counted_at = time.monotonic()
        if self._bytes() + needed + len(self._header) > self._max_bytes:
            raise SpoolFull(f"the spool {self.directory} is full ({self._max_bytes} bytes)")

    def _free_acked(self) -> bool:
        return False  # the loader deletes acknowledged segments, never the edge

    def _bytes(self) -> int:
        return self._others + self._tail_size()

    def read(self, max_records: int) -> None:
        """Not here: the loader reads."""
        raise SpoolError("an edge spool is read by the loader")

    def ack(self, position: Position) -> None:
        """Not here: the loader acknowledges."""
        raise SpoolError("an edge spool is acknowledged by the loader")


class LoaderSpool(Spool):
    """The reading half: complete segments of a directory an edge (or a log reader) fills."""

    LOCKS = ("read.lock",)

    def _recover(self) -> None:
        checkpoint = read_checkpoint(self.directory)
        self._next_seq = 0
        self._acked = self._read = checkpoint
        self._unread = self._unacked = 0
        self._adopt(checkpoint)
        self._acked = self._read = self._settle(checkpoint)

    def refresh(self) -> None:
        """Take in the segments completed since the last look."""
        with self._lock:
            if not self._closed:
                self._adopt(self._acked)

    def _adopt(self, checkpoint: Position) -> None:
        known = max(self._segments, default=-1)
        seqs = [seq for seq in list_segments(self.directory) if seq > known]
        for seq in complete_segments(self.directory, seqs):
            path = segment_path(self.directory, seq)
            if seq < checkpoint.segment:
                path.unlink(missing_ok=True)  # stored already; left by a crash before delete
                continue
            try:
                found = scan_file(path, seq, checkpoint)
            except FileNotFoundError:
                continue
            self._corrupt += found.corrupt
            self._segments[seq] = found.segment
            self._unacked += found.unacked
            self._unread += found.unacked
            self._dir_dirty = True

    def stats(self) -> SpoolStats:
        """As `Spool.stats`, counting segments handed over since the writer last looked (it
        does not look while an insert is being retried)."""
        self.refresh()
        return super().stats()

    def tail(self) -> Position:
        """Just past the last record on disk, in complete segments or in the one being filled.

        A flush waits for this: what an edge appended before it began, not yet handed over.
        """
        with self._lock:
            for seq in reversed(list_segments(self.directory)):
                try:
                    size = segment_path(self.directory, seq).stat().st_size
                except FileNotFoundError:
                    continue
                known = self._segments.get(seq)
                start = known.start if known else _records_start(segment_path(self.directory, seq))
                if size > start:
                    return max(Position(seq, size), self._acked)
            return self._acked

    def append(self, records: Sequence[bytes]) -> None:
        """Not here: edges append."""
        raise SpoolError("a loader spool is appended to by its edge")
