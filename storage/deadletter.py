"""Dead letters and spool status: what the CLI reads from a spool directory, writer or not.

Dead letters are batches ClickHouse refused for good, kept as files until someone redrives them.

Each refused batch becomes one JSON file in ``<spool dir>/dead/`` holding the target table, its
columns, the error and the rows (in the spool's record form), so an operator can read it, fix
the cause (a missing column, a wrong type) and re-insert it with `redrive`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from ashiato.storage._private import open_private, private_dir
from ashiato.storage._records import encode_row, row_from_envelope
from ashiato.storage._segments import (
    is_locked,
    list_segments,
    read_checkpoint,
    scan_file,
    segment_path,
)
from ashiato.storage.backend import Backend, Store, connection
from ashiato.storage.errors import StorageError, StorageUnavailable

log = logging.getLogger(__name__)

DEAD_DIR = "dead"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused batch: where it is, what it was for, why it was refused."""

    path: Path
    rows: list[dict[str, Any]]
    error: str
    created: datetime
    table: str
    columns: tuple[str, ...]


def write_dead_letter(
    spool_dir: str | os.PathLike[str],
    table: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    error: str,
) -> Path:
    """Keep a refused batch as a new file, each row naming its columns; durable on return."""
    dead = Path(spool_dir) / DEAD_DIR
    private_dir(dead)
    created = datetime.now(UTC)
    doc = {
        "version": 1,
        "table": table,
        "columns": list(columns),
        "error": error,
        "created": created.isoformat(),
        "records": [encode_row(row) for row in rows],
    }
    name = f"{created:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"
    tmp = dead / (name + ".tmp")
    with os.fdopen(
        open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w", encoding="utf-8"
    ) as file:
        json.dump(doc, file, ensure_ascii=False)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, dead / name)
    return dead / name


def dead_letters(spool_dir: str | os.PathLike[str]) -> list[DeadLetter]:
    """Every dead letter of a spool, oldest first; an unreadable file is listed with no rows."""
    dead = Path(spool_dir) / DEAD_DIR
    if not dead.is_dir():
        return []
    return [_load(path) for path in sorted(dead.glob("*.json"))]


def _load(path: Path) -> DeadLetter:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return DeadLetter(
            path=path,
            rows=[row_from_envelope(record) for record in doc["records"]],
            error=str(doc["error"]),
            created=datetime.fromisoformat(doc["created"]),
            table=str(doc["table"]),
            columns=tuple(doc["columns"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        created = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return DeadLetter(path, [], f"unreadable dead-letter file: {exc}", created, "", ())


def redrive(spool_dir: str | os.PathLike[str], target: Store | Backend) -> int:
    """Insert dead-lettered batches again, deleting each file once it is in; returns rows sent.

    A batch that is refused again stays (with its file untouched); when ClickHouse is
    unreachable the rest are left for a later try.
    """
    if hasattr(target, "connect"):
        with connection(cast(Store, target)) as backend:
            return _redrive(spool_dir, backend)
    return _redrive(spool_dir, target)


def _redrive(spool_dir: str | os.PathLike[str], backend: Backend) -> int:
    from ashiato.storage.writer import batch_token  # the writer writes dead letters: import late

    sent = 0
    for letter in dead_letters(spool_dir):
        if not letter.rows:
            continue
        try:
            backend.insert(
                letter.table, letter.rows, letter.columns, dedup_token=batch_token(letter.rows)
            )
        except StorageUnavailable as exc:
            log.warning("redrive stopped, ClickHouse is unavailable: %s", exc)
            break
        except StorageError as exc:
            log.warning("dead letter %s refused again: %s", letter.path.name, exc)
            continue
        letter.path.unlink()
        sent += len(letter.rows)
    return sent


def spool_status(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """What a spool directory holds, read without opening it (works while a writer runs)."""
    path = Path(directory)
    checkpoint = read_checkpoint(path)
    status: dict[str, Any] = {
        "directory": str(path),
        "segments": 0,
        "bytes": 0,
        "unacked": 0,
        "oldest_age": 0.0,
        "corrupt": 0,
        "dead_letters": 0,
        "in_use": False,
    }
    if not path.is_dir():
        return status
    oldest: int | None = None
    for seq in list_segments(path):
        file = segment_path(path, seq)
        try:
            found = scan_file(file, seq, checkpoint)
        except FileNotFoundError:  # deleted by a running writer meanwhile
            continue
        status["segments"] += 1
        status["bytes"] += found.segment.size
        status["unacked"] += found.unacked
        status["corrupt"] += found.corrupt
        if oldest is None and found.first_ts_ms is not None:
            oldest = found.first_ts_ms
    if oldest is not None:
        status["oldest_age"] = max(0.0, time.time() - oldest / 1000)
    dead = path / DEAD_DIR
    status["dead_letters"] = len(list(dead.glob("*.json"))) if dead.is_dir() else 0
    status["in_use"] = is_locked(path / "lock")
    return status
