"""Stable event ids for log lines: from what their file holds and where in it they sit.

A file is known by its content, not by its inode: its identity is a fingerprint of its first
line (decompressed, for a .gz). That line never changes as the file grows, is the same after a
rename by log rotation, and is the same in a copy or a .gz of the file; so the same line at
the same byte offset gives the same event id whichever of them it is read from, and storage
(ReplacingMergeTree by event id) keeps it once.

The first line is taken as read, up to its newline and at most `IDENTITY_BYTES` (an overlong
first line is known by its head), without the line break. A file with no bytes has no lines
and needs no identity. `--follow` passes on no line before the first one is complete, so a
first line still being written is not fingerprinted yet; only the last line of a file read to
its end (a whole file, or a rotated one) may lack its newline, and is then taken as it is.

Two files whose first lines are the same bytes count as the same content: with a time in the
log format that only happens for copies. Lines of other sites stay apart all the same, since
storage keeps one event per site and event id.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Final

from ashiato.beacon.accesslog import MAX_LINE_BYTES

__all__ = ["IDENTITY_BYTES", "content_identity", "line_event_id", "line_origin", "read_identity"]

IDENTITY_BYTES: Final = MAX_LINE_BYTES + 1  # the most of a first line that is read
_LOG_NAMESPACE: Final = uuid.UUID("6b1d3c52-8f0e-4f5e-9a57-0b8f3c1a9e21")
# Most first lines fit in one page; a longer one is read again up to IDENTITY_BYTES.
_FIRST_READ: Final = 4096


def content_identity(head: bytes) -> str:
    """The identity of a file that starts with `head` (at least its first line, if complete)."""
    first = head[:IDENTITY_BYTES]
    end = first.find(b"\n")
    if end >= 0:
        first = first[:end]
    return hashlib.blake2b(first.rstrip(b"\r"), digest_size=16).hexdigest()


def read_identity(fd: int) -> str:
    """The identity of the open file `fd`, read from its start without moving its position."""
    head = os.pread(fd, _FIRST_READ, 0)
    if len(head) == _FIRST_READ and b"\n" not in head:
        head = os.pread(fd, IDENTITY_BYTES, 0)
    return content_identity(head)


def line_origin(identity: str, offset: int) -> str:
    """Where a line sits: its file's identity and its byte offset in the (decompressed) file."""
    return f"{identity}:{offset}"


def line_event_id(origin: str, line: bytes | str) -> str:
    """A stable event id for the log line found at `origin`."""
    data = line if isinstance(line, bytes) else line.encode("utf-8", "surrogateescape")
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return str(uuid.uuid5(_LOG_NAMESPACE, f"{origin}:{digest}"))
