"""Suppression: subjects whose data may not be processed further (suspension of use).

Rows are appended, the latest per subject wins, so suppressing twice or lifting a
suppression later keeps the whole history. The collector loads `suppressed_subjects`
periodically and keeps new events of those subjects free of identifiers; linking and
provision refuse them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ashiato.retention._clock import to_ms
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend

SUBJECT_TYPES = ("member", "visitor", "recipient")
SUPPRESSION_COLUMNS = ("subject_type", "subject", "ts_ms", "suppressed", "actor", "reason")
_LATEST = "argMax(suppressed, tuple(ts_ms, suppressed))"


def check_subject(subject_type: str, subject: str) -> None:
    """Refuse an unknown subject type or an empty subject."""
    if subject_type not in SUBJECT_TYPES:
        raise ValueError(f"subject_type must be one of {', '.join(SUBJECT_TYPES)}")
    if not subject:
        raise ValueError(f"an empty {subject_type} id names nobody")


def _set(
    backend: Backend,
    subject_type: str,
    subject: str,
    suppressed: bool,
    actor: str,
    reason: str,
    now: datetime | None,
) -> None:
    check_subject(subject_type, subject)
    ts_ms = to_ms(now or datetime.now(UTC))
    row = {
        "subject_type": subject_type,
        "subject": subject,
        "ts_ms": ts_ms,
        "suppressed": int(suppressed),
        "actor": actor,
        "reason": reason,
    }
    backend.insert("suppressions", [row], SUPPRESSION_COLUMNS)
    action = "suppress" if suppressed else "unsuppress"
    record(backend, AuditEntry(actor, action, subject_type, subject, reason, 1), ts_ms)


def suppress(
    backend: Backend,
    subject_type: str,
    subject: str,
    actor: str,
    reason: str,
    *,
    now: datetime | None = None,
) -> None:
    """Stop all further processing of a subject's data."""
    _set(backend, subject_type, subject, True, actor, reason, now)


def unsuppress(
    backend: Backend,
    subject_type: str,
    subject: str,
    actor: str,
    reason: str,
    *,
    now: datetime | None = None,
) -> None:
    """Lift a suppression (the subject asked for processing to resume)."""
    _set(backend, subject_type, subject, False, actor, reason, now)


def is_suppressed(backend: Backend, subject_type: str, subject: str) -> bool:
    """True when the subject's latest suppression row suppresses it."""
    result = backend.query(
        f"SELECT {_LATEST} FROM suppressions"
        " WHERE subject_type = %(type)s AND subject = %(subject)s",
        {"type": subject_type, "subject": subject},
    )
    # An aggregate over no rows still returns one row (0) on ClickHouse.
    return bool(result.scalar())


def suppressed_subjects(backend: Backend) -> set[tuple[str, str]]:
    """Every currently suppressed (subject_type, subject)."""
    result = backend.query(
        f"SELECT subject_type, subject FROM suppressions GROUP BY subject_type, subject"
        f" HAVING {_LATEST} = 1"
    )
    return {(str(t), str(s)) for t, s in result.rows}


def suppression_rows(
    backend: Backend, subject_type: str, subjects: list[str]
) -> list[dict[str, object]]:
    """Every suppression row of the given subjects, oldest first (for exports)."""
    if not subjects:
        return []
    return backend.query(
        "SELECT subject_type, subject, ts_ms, suppressed, actor, reason FROM suppressions"
        " WHERE subject_type = %(type)s AND has(%(subjects)s, subject) ORDER BY ts_ms",
        {"type": subject_type, "subjects": subjects},
    ).dicts()
