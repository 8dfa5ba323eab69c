"""Identity links: a member's visitor ids, linked only with the consent the policies require.

A link is a row in `identity_links` (action 'link' or 'unlink'); the latest row per
(member, visitor) wins, an unlink winning a tie (`ACTIVE_LINKS_SQL`). Events are never
rewritten: a member's history, past and future, is found by joining events to the active links
by visitor id, so a link made today covers the visitor's past events and an unlink hides them
again. Linking serves marketing, so a subject suppressed for marketing (or for every purpose,
directly or through a linked member: `retention.suppress`) is never linked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ashiato.retention._clock import to_ms
from ashiato.retention._links import ACTIVE_LINKS_SQL
from ashiato.retention._predicates import event_predicate
from ashiato.retention.members import member_state
from ashiato.retention.suppress import SuppressionList, suppressions
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend
from ashiato.storage.schema import EVENTS_VIEW

LINK_COLUMNS = ("member_id", "visitor_id", "ts_ms", "action", "actor", "reason")

NOT_REGISTERED = "member not registered"
MEMBER_NO_MARKETING = "member has not consented to marketing"
VISITOR_NO_MARKETING = "visitor has not consented to marketing"
SUPPRESSED = "subject suppressed"


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """Whether a member and a visitor are linked now, and why (or why not)."""

    linked: bool
    reason: str


@dataclass(frozen=True, slots=True)
class LinkResult:
    """What a run of the link job checked and revoked."""

    checked: int
    kept: int
    revoked: tuple[tuple[str, str, str], ...]  # (member_id, visitor_id, reason)
    dry_run: bool
    elapsed_s: float


def linked_events_sql() -> str:
    """A SELECT of every event of a linked visitor with its `linked_member_id`, for reports.

    Visitor ids are matched without their Nullable wrapper (18.16 cannot join on it); a
    visitor linked to two members appears once per member.
    """
    return (
        "SELECT l.member_id AS linked_member_id, e.* FROM"
        f" (SELECT *, assumeNotNull(visitor_id) AS linked_visitor_id FROM {EVENTS_VIEW}"
        " WHERE isNotNull(visitor_id)) AS e"
        " ALL INNER JOIN"
        f" (SELECT member_id, visitor_id AS linked_visitor_id FROM ({ACTIVE_LINKS_SQL})) AS l"
        " USING linked_visitor_id"
    )


def active_links(backend: Backend, member_id: str | None = None) -> list[tuple[str, str]]:
    """Active (member_id, visitor_id) links, of one member or of all."""
    sql = f"SELECT member_id, visitor_id FROM ({ACTIVE_LINKS_SQL})"
    params: dict[str, Any] = {}
    if member_id is not None:
        sql += " WHERE member_id = %(m)s"
        params["m"] = member_id
    rows = backend.query(sql + " ORDER BY member_id, visitor_id", params).rows
    return [(str(m), str(v)) for m, v in rows]


def linked_visitors(backend: Backend, member_id: str) -> list[str]:
    """Visitor ids actively linked to the member."""
    return [v for _, v in active_links(backend, member_id)]


def member_events(backend: Backend, member_id: str) -> list[dict[str, Any]]:
    """Every stored event of the member: of its linked visitors, or carrying its member id."""
    predicate, params = event_predicate(linked_visitors(backend, member_id), [member_id], [])
    if not predicate:
        return []
    return backend.query(
        f"SELECT * FROM {EVENTS_VIEW} WHERE {predicate} ORDER BY ts_ms", params
    ).dicts()


def visitor_consents_to_marketing(backend: Backend, visitor_id: str) -> bool:
    """True when the visitor's most recent stored event granted marketing."""
    result = backend.query(
        "SELECT argMax(has(purposes, 'marketing'), ts_ms), count() FROM"
        f" {EVENTS_VIEW} WHERE isNotNull(visitor_id) AND assumeNotNull(visitor_id) = %(v)s",
        {"v": visitor_id},
    )
    granted, rows = result.rows[0]
    return bool(rows) and bool(granted)


def refusal(
    backend: Backend,
    member_id: str,
    visitor_id: str,
    suppressed: SuppressionList | None = None,
) -> str:
    """Why the member and visitor may not be linked, or "" when they may."""
    if suppressed is None:
        suppressed = suppressions(backend)
    if suppressed.covers("member", member_id, "marketing") or suppressed.covers(
        "visitor", visitor_id, "marketing"
    ):
        return SUPPRESSED
    state = member_state(backend, member_id)
    if state is None or not state.registered:
        return NOT_REGISTERED
    if not state.allows_linking:
        return MEMBER_NO_MARKETING
    if not visitor_consents_to_marketing(backend, visitor_id):
        return VISITOR_NO_MARKETING
    return ""


def _append(
    backend: Backend,
    member_id: str,
    visitor_id: str,
    action: str,
    actor: str,
    reason: str,
    ts_ms: int,
) -> None:
    row = {
        "member_id": member_id,
        "visitor_id": visitor_id,
        "ts_ms": ts_ms,
        "action": action,
        "actor": actor,
        "reason": reason,
    }
    backend.insert("identity_links", [row], LINK_COLUMNS)
    record(
        backend,
        AuditEntry(actor, action, "member", member_id, reason, 1, f"visitor {visitor_id}"),
        ts_ms,
    )


def identify(
    backend: Backend, member_id: str, visitor_id: str, actor: str, now: datetime | None = None
) -> LinkOutcome:
    """Link a visitor id to a member when the member and the visitor allow it.

    Refused (nothing written) unless the member is registered with marketing consent, the
    visitor's latest event granted marketing, and neither is suppressed.
    """
    if not member_id or not visitor_id:
        return LinkOutcome(False, "member id and visitor id are required")
    reason = refusal(backend, member_id, visitor_id)
    if reason:
        return LinkOutcome(False, reason)
    if (member_id, visitor_id) in active_links(backend, member_id):
        return LinkOutcome(True, "already linked")
    ts_ms = to_ms(now or datetime.now(UTC))
    _append(backend, member_id, visitor_id, "link", actor, "identified", ts_ms)
    return LinkOutcome(True, "linked")


def unlink(
    backend: Backend,
    member_id: str,
    visitor_id: str,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> LinkOutcome:
    """Remove a link (a correction, or consent withdrawn); the history stays."""
    if (member_id, visitor_id) not in active_links(backend, member_id):
        return LinkOutcome(False, "not linked")
    _append(
        backend, member_id, visitor_id, "unlink", actor, reason, to_ms(now or datetime.now(UTC))
    )
    return LinkOutcome(False, "unlinked")


def link(backend: Backend, now: datetime, dry_run: bool = False) -> LinkResult:
    """Re-check every active link and revoke those whose consent no longer holds.

    Each revocation is one appended 'unlink' row, so a run interrupted half-way leaves the
    rest active and the next run revokes them. Links of suppressed subjects are kept: the link
    is what carries a member's suppression to its browsers, and a suspension is not a reason
    to forget whose they are. Once it is lifted, the next run re-checks their consent.
    """
    started = time.monotonic()
    suppressed = suppressions(backend)
    links = active_links(backend)
    revoked: list[tuple[str, str, str]] = []
    ts_ms = to_ms(now)
    for member_id, visitor_id in links:
        reason = refusal(backend, member_id, visitor_id, suppressed)
        if reason and reason != SUPPRESSED:
            if not dry_run:
                _append(backend, member_id, visitor_id, "unlink", "retention", reason, ts_ms)
            revoked.append((member_id, visitor_id, reason))
    return LinkResult(
        len(links), len(links) - len(revoked), tuple(revoked), dry_run, time.monotonic() - started
    )
