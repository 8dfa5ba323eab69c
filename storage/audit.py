"""The audit trail: one append-only row for every access to personal data."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from ashiato.storage.backend import Backend

AUDIT_COLUMNS = (
    "ts_ms",
    "day",
    "actor",
    "action",
    "subject_type",
    "subject",
    "reason",
    "rows",
    "detail",
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what to whose data, why, and how many rows it touched."""

    actor: str
    action: str
    subject_type: str = ""
    subject: str = ""
    reason: str = ""
    rows: int = 0
    detail: str = ""


def record(backend: Backend, entry: AuditEntry, now_ms: int | None = None) -> None:
    """Append `entry` to the audit trail."""
    ts_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    row = {
        **asdict(entry),
        "ts_ms": ts_ms,
        "day": datetime.fromtimestamp(ts_ms / 1000, UTC).date(),
        "detail": entry.detail[:2000],
    }
    backend.insert("audit_log", [row], AUDIT_COLUMNS)
