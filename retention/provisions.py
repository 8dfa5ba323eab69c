"""The ledger of data provided to third parties, and the audit trail reader."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ashiato.retention._clock import to_ms
from ashiato.retention.errors import SubjectSuppressed
from ashiato.retention.suppress import suppressions
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend

PROVISION_COLUMNS = (
    "ts_ms",
    "day",
    "recipient",
    "purpose",
    "categories",
    "member_id",
    "aggregate",
    "actor",
    "note",
)


def record_provision(
    backend: Backend,
    *,
    recipient: str,
    purpose: str,
    categories: Iterable[str],
    member_ids: Iterable[str] = (),
    aggregate: bool = False,
    actor: str,
    note: str = "",
    now: datetime | None = None,
) -> int:
    """Record a provision to a third party, one row per member (or one aggregate row).

    Exactly one of `member_ids` and `aggregate` must be given. A suppressed member's data may
    not be provided, so naming one raises SubjectSuppressed and records nothing.
    """
    members = sorted(set(member_ids))
    if bool(members) == aggregate:
        raise ValueError("give either member_ids or aggregate=True, not both or neither")
    if not recipient or not purpose:
        raise ValueError("recipient and purpose are required")
    current = suppressions(backend, "member", members) if members else None
    blocked = [m for m in members if current is not None and current.covers("member", m)]
    if blocked:
        raise SubjectSuppressed(f"{len(blocked)} member(s) are suppressed: provision refused")
    moment = now or datetime.now(UTC)
    ts_ms = to_ms(moment)
    base = {
        "ts_ms": ts_ms,
        "day": moment.astimezone(UTC).date(),
        "recipient": recipient,
        "purpose": purpose,
        "categories": sorted(set(categories)),
        "aggregate": int(aggregate),
        "actor": actor,
        "note": note,
    }
    rows = [{**base, "member_id": m} for m in members] or [{**base, "member_id": None}]
    backend.insert("provisions", rows, PROVISION_COLUMNS)
    record(
        backend,
        AuditEntry(
            actor,
            "provision",
            "recipient",
            recipient,
            purpose,
            len(rows),
            "aggregate" if aggregate else f"{len(members)} member(s)",
        ),
        ts_ms,
    )
    return len(rows)


@dataclass(frozen=True, slots=True)
class ThirdParty:
    """One recipient in the ledger: what it was given, and in what form (for the notice)."""

    recipient: str
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    per_member: bool  # some provision named members
    aggregate: bool  # some provision was aggregate data only


def third_parties(backend: Backend) -> list[ThirdParty]:
    """Every recipient the ledger holds, by name, with its purposes and data categories."""
    rows = backend.query(
        "SELECT recipient, groupUniqArray(purpose), groupUniqArrayArray(categories),"
        " max(isNotNull(member_id)), max(aggregate)"
        " FROM provisions GROUP BY recipient ORDER BY recipient"
    ).rows
    return [
        ThirdParty(
            str(recipient),
            tuple(sorted(purposes)),
            tuple(sorted(categories)),
            bool(per_member),
            bool(aggregate),
        )
        for recipient, purposes, categories, per_member, aggregate in rows
    ]


def audit_entries(
    backend: Backend,
    since: datetime | None = None,
    until: datetime | None = None,
    subjects: Sequence[tuple[str, str]] = (),
    *,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """Audit rows in [since, until) (open ends when None), oldest first, at most `limit`;
    with `subjects`, only rows about one of those (subject_type, subject) pairs."""
    where = "ts_ms >= %(since)s AND ts_ms < %(until)s"
    params: dict[str, Any] = {
        "since": to_ms(since) if since else 0,
        "until": to_ms(until) if until else 2**63 - 1,
        "limit": int(limit),
    }
    if subjects:
        where += " AND has(%(subjects)s, concat(subject_type, ':', subject))"
        params["subjects"] = [f"{kind}:{value}" for kind, value in subjects]
    return backend.query(
        "SELECT ts_ms, day, actor, action, subject_type, subject, reason, rows, detail"
        f" FROM audit_log WHERE {where} ORDER BY ts_ms LIMIT %(limit)s",
        params,
    ).dicts()
