"""Disclosure: everything held about a subject, as JSON-able records with a category each.

Categories: "event" (stored events), "consent" (consent events and the member's reported
consent), "link" (identity link history), "provision" (provisions of the member's data to
third parties), "suppression" (every suppression row, lifted ones included), then one "summary"
with counts per category, the suppressions in force (`retention.suppress`: through a linked
member too) and the retention period of every class. Only rows naming the subject are read:
a member's events through its active links (an unlinked visitor may have been someone else),
a visitor's by visitor id, e-mail opens and clicks by recipient pseudonym.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from ashiato.retention._predicates import event_predicate
from ashiato.retention.link import linked_visitors
from ashiato.retention.policy import RetentionPolicy
from ashiato.retention.suppress import Suppression, suppression_rows, suppressions
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend
from ashiato.storage.schema import EVENTS_VIEW


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _records(category: str, rows: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    return [{"category": category, **extra, **{k: _plain(v) for k, v in r.items()}} for r in rows]


def export(
    backend: Backend,
    *,
    member: str | None = None,
    visitor: str | None = None,
    recipient: str | None = None,
    actor: str,
    reason: str,
    policy: RetentionPolicy | None = None,
) -> list[dict[str, Any]]:
    """Every record held about the subject(s), ending with a summary; audited as 'export'."""
    if not (member or visitor or recipient):
        raise ValueError("name a member, a visitor or a recipient to export")
    members = [member] if member else []
    visitors = sorted(
        {*([visitor] if visitor else []), *(linked_visitors(backend, member) if member else [])}
    )
    recipients = [recipient] if recipient else []
    out: list[dict[str, Any]] = []

    predicate, params = event_predicate(visitors, members, recipients)
    events = backend.query(
        f"SELECT * FROM {EVENTS_VIEW} WHERE {predicate} ORDER BY ts_ms", params
    ).dicts()
    out += _records("event", [e for e in events if e["kind"] != "consent"])
    out += _records("consent", [e for e in events if e["kind"] == "consent"], origin="event")
    if member:
        rows = backend.query(
            "SELECT member_id, ts_ms, registered, purposes, source AS reported_by FROM members"
            " WHERE member_id = %(m)s ORDER BY ts_ms",
            {"m": member},
        ).dicts()
        out += _records("consent", rows, origin="member")
    link_filter = []
    if member:
        link_filter.append("member_id = %(m)s")
    if visitor:
        link_filter.append("visitor_id = %(v)s")
    if link_filter:
        out += _records(
            "link",
            backend.query(
                "SELECT member_id, visitor_id, ts_ms, action, actor, reason FROM identity_links"
                f" WHERE {' OR '.join(link_filter)} ORDER BY ts_ms",
                {"m": member or "", "v": visitor or ""},
            ).dicts(),
        )
    if member:
        out += _records(
            "provision",
            backend.query(
                "SELECT ts_ms, day, recipient, purpose, categories, actor, note FROM provisions"
                " WHERE isNotNull(member_id) AND assumeNotNull(member_id) = %(m)s ORDER BY ts_ms",
                {"m": member},
            ).dicts(),
        )
    in_force: list[Suppression] = []
    for subject_type, subjects in (
        ("member", members),
        ("visitor", visitors),
        ("recipient", recipients),
    ):
        out += _records("suppression", suppression_rows(backend, subject_type, subjects))
        if subjects:
            in_force += suppressions(backend, subject_type, subjects)

    counts = Counter(r["category"] for r in out)
    out.append(
        {
            "category": "summary",
            "subjects": {"member": members, "visitor": visitors, "recipient": recipients},
            "counts": {
                c: counts.get(c, 0)
                for c in ("event", "consent", "link", "provision", "suppression")
            },
            "suppressed": [asdict(s) for s in in_force],
            "retention_days": (policy or RetentionPolicy()).as_dict(),
        }
    )
    subject_type, subject = (
        ("member", member)
        if member
        else ("visitor", visitor)
        if visitor
        else ("recipient", recipient)
    )
    record(backend, AuditEntry(actor, "export", subject_type, subject or "", reason, len(out) - 1))
    return out
