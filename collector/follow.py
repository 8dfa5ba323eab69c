"""Follow growing log files like `tail -F`, with checkpoints that survive restarts.

A checkpoint (device, inode, offset) is written only after the caller says the lines before it
are safely spooled, so a restart neither loses nor repeats lines. Rotation by rename-and-create
is noticed by the inode changing (the rest of the old file is read first, also after a restart
if it is found as `NAME.1`); rotation by copytruncate by the file shrinking below the offset.

The checkpoint names the inode because it says where to resume reading. Event ids do not: each
line's origin is its file's content identity and the line's offset (`lineid`), so the lines a
follower stored are the same events when the rotated file, or a .gz of it, is read again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ashiato.beacon.accesslog import MAX_LINE_BYTES
from ashiato.collector.lineid import line_origin, read_identity

MAX_CHUNK = 1 << 20


@dataclass
class Checkpoint:
    """Where reading of one followed path stands."""

    dev: int
    inode: int
    offset: int


@dataclass
class Chunk:
    """Complete lines read from one file, and the checkpoint to commit once they are safe."""

    path: Path
    lines: list[bytes]
    checkpoint: Checkpoint
    origins: list[str]  # each line's `lineid.line_origin`, for stable event ids


class FollowedFile:
    """One path being followed."""

    def __init__(self, path: Path, state_dir: Path) -> None:
        self.path = path
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        self.state_file = state_dir / f"follow-{digest}.json"
        self._handle: BinaryIO | None = None
        self._where: Checkpoint | None = None
        self._draining: BinaryIO | None = None
        self._started = False
        self._skipping = False  # inside a line longer than MAX_CHUNK

    def load(self) -> Checkpoint | None:
        """The committed checkpoint, if any."""
        try:
            doc = json.loads(self.state_file.read_text())
            return Checkpoint(int(doc["dev"]), int(doc["inode"]), int(doc["offset"]))
        except (OSError, ValueError, KeyError):
            return None

    def commit(self, checkpoint: Checkpoint) -> None:
        """Durably record that everything before `checkpoint` is safe."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump({"path": str(self.path), **checkpoint.__dict__}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_file)

    def lag(self) -> int:
        """Bytes written to the file that are not read yet."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return 0
        return max(0, size - (self._where.offset if self._where else 0))

    def _open(self, resume: bool = True) -> None:
        """Open the path; on first open, resume from the committed checkpoint."""
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
        except OSError:
            return
        st = os.fstat(handle.fileno())
        saved = self.load() if resume else None
        offset = 0
        if resume and saved is not None:
            if (saved.dev, saved.inode) == (st.st_dev, st.st_ino):
                offset = saved.offset if saved.offset <= st.st_size else 0
            else:
                self._drain_rotated(saved)
        handle.seek(offset)
        self._handle = handle
        self._where = Checkpoint(st.st_dev, st.st_ino, offset)

    def _drain_rotated(self, saved: Checkpoint) -> None:
        """After a restart, finish the renamed file the checkpoint points into, if found."""
        for candidate in (self.path.with_name(self.path.name + ".1"),):
            try:
                st = candidate.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (saved.dev, saved.inode) and saved.offset <= st.st_size:
                handle = open(candidate, "rb")  # noqa: SIM115
                handle.seek(saved.offset)
                self._draining = handle

    def poll(self) -> Iterator[Chunk]:
        """Chunks of complete new lines since the last poll."""
        if self._handle is None:
            self._open(resume=self._started is False)
            self._started = True
        if self._draining is not None:
            yield from self._read(self._draining, final=True)
            self._draining.close()
            self._draining = None
        if self._handle is None:
            return
        assert self._where is not None
        try:
            st = self.path.stat()
        except OSError:
            st = None
        rotated = st is not None and (st.st_dev, st.st_ino) != (self._where.dev, self._where.inode)
        if st is not None and not rotated and st.st_size < self._where.offset:
            # copytruncate: the file was emptied in place; start again from its beginning.
            self._handle.seek(0)
            self._where = Checkpoint(self._where.dev, self._where.inode, 0)
        yield from self._read(self._handle, final=False)
        if rotated:
            # rename-and-create: the old file is complete once renamed; read its tail, move on.
            yield from self._read(self._handle, final=True)
            self._handle.close()
            self._handle = None
            self._where = None
            self._open(resume=False)
            if self._handle is not None:
                yield from self._read(self._handle, final=False)

    def _read(self, handle: BinaryIO, *, final: bool) -> Iterator[Chunk]:
        st = os.fstat(handle.fileno())
        # Read again on every call: copytruncate gives the same inode new content.
        identity = ""
        while True:
            start = handle.tell()
            data = handle.read(MAX_CHUNK)
            if not data:
                return
            if self._skipping:
                # The rest of a line already passed on, cut, as too long.
                newline = data.find(b"\n")
                self._skipping = newline < 0
                skipped = len(data) if newline < 0 else newline + 1
                handle.seek(start + skipped)
                checkpoint = Checkpoint(st.st_dev, st.st_ino, start + skipped)
                if handle is self._handle:
                    self._where = checkpoint
                yield Chunk(self.path, [], checkpoint, [])
                continue
            end = data.rfind(b"\n")
            if end < 0 and len(data) == MAX_CHUNK:
                # One line longer than a chunk: pass on its head, which the parser refuses as
                # too long under the line's own number, and skip the rest of it.
                self._skipping = True
                handle.seek(start + len(data))
                checkpoint = Checkpoint(st.st_dev, st.st_ino, start + len(data))
                if handle is self._handle:
                    self._where = checkpoint
                identity = identity or read_identity(handle.fileno())
                origin = line_origin(identity, start)
                yield Chunk(self.path, [data[: MAX_LINE_BYTES + 1]], checkpoint, [origin])
                continue
            if end < 0 and not final and len(data) < MAX_CHUNK:
                handle.seek(start)
                return
            if end < 0:
                end = len(data) - 1
            handle.seek(start + end + 1)
            lines = data[: end + 1].split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            # Only complete lines are passed on before the end of a file, so the first line is
            # complete by now, unless it is all a final file holds.
            identity = identity or read_identity(handle.fileno())
            origins = []
            offset = start
            for line in lines:
                origins.append(line_origin(identity, offset))
                offset += len(line) + 1
            checkpoint = Checkpoint(st.st_dev, st.st_ino, start + end + 1)
            if handle is self._handle:
                self._where = checkpoint
            yield Chunk(self.path, [line.rstrip(b"\r") for line in lines], checkpoint, origins)

    def close(self) -> None:
        """Close open handles."""
        for handle in (self._handle, self._draining):
            if handle is not None:
                handle.close()
