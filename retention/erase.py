"""Erasure: delete a subject's rows everywhere, make sure they leave the disk, suppress it.

The subject is suppressed first (for every purpose, in its own right, together with the
visitors linked to a member), so nothing new is linked or provided while the deletes run, and
the suppression outlives the links. Suppression rows are never deleted: they prove the erasure,
and a recipient's marketing opt-out must stay on record once the address's data is gone.
Identity links are deleted last: until then they name the member's visitor ids, so a run that
crashed half-way finds the same rows again and finishes the job when run again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ashiato.retention._clock import to_ms
from ashiato.retention._mutations import delete_where
from ashiato.retention._predicates import any_of, event_predicate, nullable_in
from ashiato.retention._purge import (
    holding_parts,
    optimize_partitions_of,
    wait_until_unlisted,
)
from ashiato.retention.link import linked_visitors
from ashiato.retention.suppress import EVERY_PURPOSE, suppress, suppressions
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend
from ashiato.storage.schema import EVENTS_TABLE


@dataclass(frozen=True, slots=True)
class EraseResult:
    """What an erasure deleted, and whether it is gone from disk as well."""

    subjects: tuple[tuple[str, str], ...]
    rows: dict[str, int] = field(default_factory=dict)  # per table, counted before deleting
    rows_remaining: int = 0
    deleted: bool = False  # every delete mutation finished
    physically_removed: bool = False
    pending_parts: tuple[str, ...] = ()  # "table/part" still on disk when the wait ended
    elapsed_s: float = 0.0

    @property
    def physical(self) -> str:
        """ "yes" when no part on disk holds the rows any more, else "pending"."""
        return "yes" if self.physically_removed else "pending"


@dataclass(frozen=True, slots=True)
class ErasureSubjects:
    """Whom an erasure is about, and which of them it still has to suppress."""

    named: tuple[tuple[str, str], ...]  # (subject_type, subject) as the request named them
    linked: tuple[str, ...]  # visitor ids actively linked to the named member
    to_suppress: tuple[tuple[str, str], ...]  # not yet suppressed for every purpose on their own


def erasure_subjects(
    backend: Backend,
    *,
    member: str | None = None,
    visitor: str | None = None,
    recipient: str | None = None,
) -> ErasureSubjects:
    """Whom an erasure request is about, and which of them it must still suppress.

    Those named and the member's linked browsers; of them, each one not yet suppressed for
    every purpose by rows of its own (a visitor suppressed only through its link would stop
    being suppressed once erasure deletes the link).
    """
    named: list[tuple[str, str]] = [
        (subject_type, subject)
        for subject_type, subject in (
            ("member", member),
            ("visitor", visitor),
            ("recipient", recipient),
        )
        if subject
    ]
    linked = sorted(set(linked_visitors(backend, member) if member else []) - {visitor})
    current = suppressions(backend)
    return ErasureSubjects(
        tuple(named),
        tuple(linked),
        tuple(
            (subject_type, subject)
            for subject_type, subject in [*named, *(("visitor", v) for v in linked)]
            if not current.held_directly(subject_type, subject, EVERY_PURPOSE)
        ),
    )


def _in(column: str, values: list[str], name: str) -> tuple[str, dict[str, Any]]:
    values = sorted(set(values))
    return (f"has(%({name})s, {column})", {name: values}) if values else ("", {})


def _targets(
    members: list[str], visitors: list[str], linked: list[str], recipients: list[str]
) -> list[tuple[str, str, dict[str, Any]]]:
    events = event_predicate([*visitors, *linked], members, recipients)
    tables = [
        (EVENTS_TABLE, *events),
        ("members", *_in("member_id", members, "members")),
        ("provisions", *nullable_in("member_id", members, "members")),
        (
            "identity_links",
            *any_of(_in("member_id", members, "members"), _in("visitor_id", visitors, "visitors")),
        ),
    ]
    return [(table, sql, params) for table, sql, params in tables if sql]


def erase(
    backend: Backend,
    *,
    member: str | None = None,
    visitor: str | None = None,
    recipient: str | None = None,
    actor: str,
    reason: str,
    wait: bool = True,
    timeout: float = 120.0,
    now: datetime | None = None,
) -> EraseResult:
    """Delete every row of the subject(s) and suppress them; audit the request.

    A member's events are found through its active links (and its member id on events); a
    visitor's by visitor id; e-mail opens and clicks by the recipient pseudonym. With `wait`,
    blocks up to `timeout` seconds for the deletes and for the old parts to leave the disk.
    """
    started = time.monotonic()
    deadline = started + timeout
    ts_ms = to_ms(now or datetime.now(UTC))
    members = [member] if member else []
    visitors = [visitor] if visitor else []
    recipients = [recipient] if recipient else []
    if not (members or visitors or recipients):
        raise ValueError("name a member, a visitor or a recipient to erase")
    who = erasure_subjects(backend, member=member, visitor=visitor, recipient=recipient)
    linked = list(who.linked)
    named = list(who.named)
    subjects = named + [("visitor", v) for v in linked]
    for subject_type, subject in who.to_suppress:
        suppress(backend, subject_type, subject, actor, f"erase: {reason}", now=now)

    masked = backend.capabilities.lightweight_delete
    counts: dict[str, int] = {}
    held: dict[str, set[str]] = {}
    done = True
    targets = _targets(members, visitors, linked, recipients)
    for table, predicate, params in targets:
        counts[table] = int(
            backend.query(f"SELECT count() FROM {table} WHERE {predicate}", params).scalar() or 0
        )
        if not counts[table]:
            continue
        held[table] = holding_parts(backend, table, predicate, params, masked=False)
        left = max(deadline - time.monotonic(), 0.0)
        done = delete_where(backend, table, predicate, params, wait=wait, timeout=left) and done
        if wait and done and masked:
            held[table] |= holding_parts(backend, table, predicate, params, masked=True)

    remaining = sum(
        int(backend.query(f"SELECT count() FROM {t} WHERE {p}", params).scalar() or 0)
        for t, p, params in targets
    )
    pending: list[str] = [f"{t}/{p}" for t, names in held.items() for p in sorted(names)]
    if wait and done:
        for table, names in held.items():
            optimize_partitions_of(backend, table, names)
        pending = wait_until_unlisted(backend, held, deadline)
    result = EraseResult(
        tuple(subjects),
        counts,
        remaining,
        done and not remaining,
        done and not remaining and not pending,
        tuple(pending),
        time.monotonic() - started,
    )
    detail = json.dumps(
        {"rows": counts, "linked_visitors": len(linked), "physical": result.physical},
        sort_keys=True,
    )
    for subject_type, subject in named:
        record(
            backend,
            AuditEntry(actor, "erase", subject_type, subject, reason, sum(counts.values()), detail),
            ts_ms,
        )
    return result
