"""The spool's on-disk format: segment files of checksummed records, and the ack checkpoint.

A segment starts with a header that says how to read its records:

    magic ``ASHSPOOL`` | u32 version | u32 column-list length | u32 CRC32 of the column list
    | the column list: JSON ``[[name, ClickHouse type], …]``, empty when none is declared

(all big-endian), then records, each a 16-byte header and a payload:

    u32 length (little-endian) | u32 CRC32 | u64 append time in ms (little-endian) | payload

The CRC covers the length, the time and the payload, so a flipped bit anywhere in a record is
caught. Scanning recovers every record whose checksum holds and reports each unreadable
stretch between them as one corrupt region. A spooled row's payload is the JSON array of its
values in the header's column order (`storage._records`). Format 1 (a 12-byte header of magic
and version, rows that name their columns) is still read.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ashiato.storage._private import open_private
from ashiato.storage._records import Columns
from ashiato.storage.errors import StorageError

MAGIC = b"ASHSPOOL"
VERSION = 2
_V1_HEADER = struct.Struct(">8sI")
FILE_HEADER = struct.Struct(">8sIII")
RECORD_HEADER = struct.Struct("<IIQ")
HEADER_SIZE = FILE_HEADER.size
"""The header of a segment without a column list; one with a list adds the list's bytes."""
_MAX_COLUMNS_BYTES = 1 << 20
_LENGTH = struct.Struct("<I")
_NONZERO = re.compile(rb"[^\x00]")
CHECKPOINT = "ack.json"
_SEGMENT_NAME = re.compile(r"^seg-(\d{20})\.log$")


class SpoolError(StorageError):
    """The spool directory cannot be used (unreadable, unknown format, held by another process)."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the spool: everything before `offset` in segment `segment` comes earlier."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Record:
    """A valid record found by a scan, with its byte span in the segment."""

    start: int
    end: int
    ts_ms: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Corrupt:
    """A stretch of a segment that holds no valid record."""

    start: int
    end: int


def file_header(columns: Columns = ()) -> bytes:
    """The bytes a segment of records laid out as `columns` starts with."""
    listed = orjson.dumps([list(c) for c in columns]) if columns else b""
    return FILE_HEADER.pack(MAGIC, VERSION, len(listed), zlib.crc32(listed)) + listed


@dataclass(frozen=True, slots=True)
class Header:
    """What a segment's header says: where its records start and how they are laid out.

    `columns` is None when the segment has no column list: format 1, whose rows name their
    columns, or a header too damaged to read (its records are found by scanning from byte 0).
    """

    start: int
    columns: Columns | None


def read_header(data: bytes, path: Path) -> Header:
    """The header of a segment whose first bytes are `data`; SpoolError for a newer format.

    A damaged magic is one more corrupt region (the records are scanned from byte 0), but a
    column list whose own checksum holds is still used.
    """
    damaged = Header(0, None)
    if len(data) < _V1_HEADER.size:
        return damaged
    magic, version = _V1_HEADER.unpack_from(data, 0)
    if magic == MAGIC and version > VERSION:
        raise SpoolError(f"{path} is spool format version {version}; this build reads {VERSION}")
    if magic == MAGIC and version == 1:
        return Header(_V1_HEADER.size, None)
    if version != VERSION or len(data) < FILE_HEADER.size:
        return damaged
    _, _, length, crc = FILE_HEADER.unpack_from(data, 0)
    end = FILE_HEADER.size + length
    if length > _MAX_COLUMNS_BYTES or end > len(data) or zlib.crc32(data[HEADER_SIZE:end]) != crc:
        return damaged
    try:
        listed = orjson.loads(data[HEADER_SIZE:end]) if length else []
        columns = tuple((str(name), str(type_)) for name, type_ in listed)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return damaged
    return Header(end if magic == MAGIC else 0, columns)


def encode(payload: bytes, ts_ms: int) -> bytes:
    """One record, header and payload, ready to append."""
    tail = struct.pack("<Q", ts_ms) + payload
    length = _LENGTH.pack(len(payload))
    crc = zlib.crc32(tail, zlib.crc32(length))
    return RECORD_HEADER.pack(len(payload), crc, ts_ms) + payload


def _valid_at(view: memoryview, pos: int) -> int:
    """The end of the record starting at `pos`, or 0 when none starts there."""
    if pos + RECORD_HEADER.size > len(view):
        return 0
    length, crc, _ = RECORD_HEADER.unpack_from(view, pos)
    end = pos + RECORD_HEADER.size + length
    if length == 0 or end > len(view):
        return 0
    actual = zlib.crc32(view[pos + 8 : end], zlib.crc32(view[pos : pos + 4]))
    return end if actual == crc else 0


def _resync(view: memoryview, pos: int) -> int:
    """The start of the next valid record after `pos`, or the end of the buffer."""
    candidate = pos + 1
    while candidate + RECORD_HEADER.size <= len(view):
        if _LENGTH.unpack_from(view, candidate)[0] == 0:
            # Zero-filled tails (a crash after the size grew, before the data landed) can be
            # megabytes long; a length is non-zero, so jump to just before the next non-zero byte.
            found = _NONZERO.search(view, candidate)
            if found is None:
                break
            candidate = max(candidate + 1, found.start() - 3)
            continue
        if _valid_at(view, candidate):
            return candidate
        candidate += 1
    return len(view)


def scan(data: bytes, start: int, base: int = 0) -> Iterator[Record | Corrupt]:
    """Every record and corrupt region in `data` from offset `start`, in order.

    `data` holds the segment from file offset `base`; offsets reported are file offsets.
    """
    view = memoryview(data)
    pos = start - base
    while pos < len(view):
        end = _valid_at(view, pos)
        if end:
            ts_ms = RECORD_HEADER.unpack_from(view, pos)[2]
            payload = bytes(view[pos + RECORD_HEADER.size : end])
            yield Record(base + pos, base + end, ts_ms, payload)
            pos = end
        else:
            following = _resync(view, pos)
            yield Corrupt(base + pos, base + following)
            pos = following


def segment_path(directory: Path, seq: int) -> Path:
    """The file of segment number `seq`."""
    return directory / f"seg-{seq:020d}.log"


def list_segments(directory: Path) -> list[int]:
    """Numbers of the segment files in `directory`, oldest first."""
    found = (_SEGMENT_NAME.match(p.name) for p in directory.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def read_checkpoint(directory: Path) -> Position:
    """The first unacknowledged position; the very start when there is no readable checkpoint.

    An unreadable checkpoint only means replaying records ClickHouse already has, which the
    event-id deduplication absorbs, so it is not an error.
    """
    try:
        doc = json.loads((directory / CHECKPOINT).read_text())
        return Position(int(doc["segment"]), int(doc["offset"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Position(0, 0)


def write_checkpoint(directory: Path, position: Position, *, durable: bool) -> None:
    """Record `position` as acknowledged, atomically (write a temporary file, then rename)."""
    tmp = directory / (CHECKPOINT + ".tmp")
    body = json.dumps({"version": VERSION, "segment": position.segment, "offset": position.offset})
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.write(fd, body.encode())
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / CHECKPOINT)


def fsync_directory(directory: Path) -> None:
    """Make file creations, renames and removals in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(slots=True)
class Segment:
    """What the spool keeps in memory about one segment file."""

    size: int
    rolled: bool
    bad: dict[int, int] = field(default_factory=dict)  # corrupt regions, start -> end
    start: int = HEADER_SIZE  # where the first record may begin
    columns: Columns | None = ()  # the header's column list (None: none readable)


@dataclass(slots=True)
class Scanned:
    """A segment read from disk, with its backlog past the checkpoint counted."""

    segment: Segment
    unacked: int = 0
    corrupt: int = 0
    first_ts_ms: int | None = None


def scan_file(path: Path, seq: int, checkpoint: Position) -> Scanned:
    """Read a whole segment: its valid records past the checkpoint and its corrupt regions."""
    data = path.read_bytes()
    header = read_header(data, path)
    found = Scanned(Segment(len(data), True, {}, header.start, header.columns))
    if not data:
        return found
    # A damaged file header is one more corrupt region; records after it are still good.
    for item in scan(data, header.start):
        if isinstance(item, Corrupt):
            found.corrupt += 1
            found.segment.bad[item.start] = item.end
        elif Position(seq, item.start) >= checkpoint:
            found.unacked += 1
            if found.first_ts_ms is None:
                found.first_ts_ms = item.ts_ms
    return found


def is_locked(lock_path: Path) -> bool:
    """True when a process holds the spool's lock file (a writer is running on it)."""
    if not lock_path.exists():
        return False
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
