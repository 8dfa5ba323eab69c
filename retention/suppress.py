"""Suppression: whose data may not be processed further, for which purposes, since when.

This module is the one definition of who is suppressed. The collector's per-hit check and its
periodic reload, reports, export, linking, the provision ledger, opt-outs and erasure all ask
it, never the `suppressions` table directly.

The rule:

- Rows are only appended (subject, purpose, time, suppressed or lifted, who, why); nothing is
  changed or deleted, not even by erasure: the rows prove a suspension or erasure, and a
  marketing opt-out must outlive the data it stopped.
- Each (subject, purpose) pair is a register of its own, decided by its latest row. Purpose
  `EVERY_PURPOSE` ('') suspends or restores every use; a named purpose (`marketing`, for an
  e-mail opt-out) only that one. A subject is suppressed for purpose P while its '' register
  or its P register is suppressed. Lifting one register never lifts the other: ending a
  suspension of use does not undo an opt-out.
- Ties: of two rows of one register at the same `ts_ms`, the suppressing one wins (the safe
  side), so the outcome never depends on the order in which rows were stored or merged.
- Since: a suppression in force holds since its earliest suppressing row after the latest
  lifting row (a tie counting as suppressing).
- Identity links: a member's suppression extends to every visitor actively linked to it, with
  the member's purpose and since (`via` names the member). It follows the link: an unlink, a
  correction saying the browser is not the member's, ends the visitor's suppression through
  that member (its own rows still count). The link job leaves links of suppressed subjects
  alone, so a suspension never unlinks anything by itself; erasure suppresses the linked
  visitors in their own right before it deletes the links.

Which purpose each user asks about:

- the collector (`SuppressionList.withholds`): a hit keeps no identifier when its visitor is
  suppressed for `personalization` (what a visitor id serves), or when it is an e-mail hit
  (it names a recipient) and its recipient or visitor is suppressed for `marketing` (what
  e-mail tracking serves);
- reports: `statistics`; linking: `marketing`;
- the provision ledger and erasure: every purpose (a suspension of use).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ashiato.beacon.vocabulary import ALWAYS, PURPOSES, spoken
from ashiato.retention._clock import to_ms
from ashiato.retention._links import ACTIVE_LINKS_SQL
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend
from ashiato.storage.reports import Exclusion

SUBJECT_TYPES = ("member", "visitor", "recipient")
EVERY_PURPOSE = ""
# The purposes a suppression can name on its own; the one always granted is not among them.
SUPPRESSIBLE = tuple(p for p in PURPOSES if p != ALWAYS)
SUPPRESSION_COLUMNS = (
    "subject_type",
    "subject",
    "purpose",
    "ts_ms",
    "suppressed",
    "actor",
    "reason",
)

# One row per (subject, purpose) register: its state (latest row, suppression winning a tie)
# and since when it holds. The lambdas see `lifted_ms`, computed from the same group.
_REGISTERS = (
    "SELECT subject_type, subject, purpose,"
    " groupArray(ts_ms) AS times, groupArray(suppressed) AS states,"
    " arrayReduce('max', arrayFilter((t, s) -> s = 0, times, states)) AS lifted_ms,"
    " arrayReduce('min', arrayFilter((t, s) -> s = 1 AND t >= lifted_ms, times, states))"
    " AS since_ms,"
    " argMax(suppressed, tuple(ts_ms, suppressed)) AS state"
    " FROM suppressions GROUP BY subject_type, subject, purpose"
)
_DIRECT = f"SELECT subject_type, subject, purpose, since_ms FROM ({_REGISTERS}) WHERE state = 1"

# Every suppression in force: (subject_type, subject, purpose, since_ms, via).
SUPPRESSIONS_SQL = (
    f"SELECT subject_type, subject, purpose, since_ms, '' AS via FROM ({_DIRECT})"
    " UNION ALL"
    " SELECT 'visitor' AS subject_type, visitor_id AS subject, purpose, since_ms,"
    " member_id AS via"
    f" FROM (SELECT subject AS member_id, purpose, since_ms FROM ({_DIRECT})"
    " WHERE subject_type = 'member') AS suppressed_members"
    f" ALL INNER JOIN ({ACTIVE_LINKS_SQL}) AS links USING member_id"
)

# The events column naming each kind of subject.
_EVENT_COLUMNS = (("visitor", "visitor_id"), ("member", "member_id"), ("recipient", "recipient"))


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppression in force: whose, for which purpose, since when, and through whom."""

    subject_type: str
    subject: str
    purpose: str  # EVERY_PURPOSE ('') or one purpose
    since_ms: int
    via: str = ""  # for a visitor suppressed through a linked member: that member's id


class SuppressionList:
    """The suppressions in force at one moment, answering "suppressed for this purpose?"."""

    __slots__ = ("_keys", "entries")

    def __init__(self, entries: Iterable[Suppression] = ()) -> None:
        self.entries: tuple[Suppression, ...] = tuple(entries)
        self._keys = frozenset((e.subject_type, e.subject, e.purpose) for e in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Suppression]:
        return iter(self.entries)

    def covers(self, subject_type: str, subject: str, purpose: str = EVERY_PURPOSE) -> bool:
        """True when the subject is suppressed for `purpose` (for every purpose, by default)."""
        if (subject_type, subject, EVERY_PURPOSE) in self._keys:
            return True
        return purpose != EVERY_PURPOSE and (subject_type, subject, purpose) in self._keys

    def subjects(self, subject_type: str, purpose: str = EVERY_PURPOSE) -> set[str]:
        """Every subject of `subject_type` suppressed for `purpose`."""
        return {
            e.subject
            for e in self.entries
            if e.subject_type == subject_type and e.purpose in (EVERY_PURPOSE, purpose)
        }

    def of(self, subject_type: str, subject: str) -> list[Suppression]:
        """The suppressions in force for one subject (its own and through links)."""
        return [e for e in self.entries if (e.subject_type, e.subject) == (subject_type, subject)]

    def held_directly(self, subject_type: str, subject: str, purpose: str) -> bool:
        """True when the subject's own rows (not a link) suppress it for exactly `purpose`."""
        return any(e.purpose == purpose and not e.via for e in self.of(subject_type, subject))

    def withholds(self, *, visitor: str = "", recipient: str = "") -> bool:
        """True when a hit of this visitor id / recipient pseudonym may keep no identifier."""
        if visitor and self.covers("visitor", visitor, "personalization"):
            return True
        return bool(recipient) and (
            self.covers("recipient", recipient, "marketing")
            or (bool(visitor) and self.covers("visitor", visitor, "marketing"))
        )

    def with_added(self, entry: Suppression) -> SuppressionList:
        """This list with one more suppression (one just written, before the next reload)."""
        return SuppressionList((*self.entries, entry))


def check_subject(subject_type: str, subject: str) -> None:
    """Refuse an unknown subject type or an empty subject."""
    if subject_type not in SUBJECT_TYPES:
        raise ValueError(f"subject_type must be one of {', '.join(SUBJECT_TYPES)}")
    if not subject:
        raise ValueError(f"an empty {subject_type} id names nobody")


def check_purpose(purpose: str) -> None:
    """Refuse a purpose a suppression cannot name."""
    if purpose == EVERY_PURPOSE:
        return
    if purpose == ALWAYS:
        raise ValueError(f"{ALWAYS} processing cannot be suppressed alone; suppress every purpose")
    if purpose not in SUPPRESSIBLE:
        raise ValueError(f"purpose must be {spoken(SUPPRESSIBLE)} (or none, for every purpose)")


def _set(
    backend: Backend,
    subject_type: str,
    subject: str,
    suppressed: bool,
    actor: str,
    reason: str,
    purpose: str,
    now: datetime | None,
) -> Suppression:
    check_subject(subject_type, subject)
    check_purpose(purpose)
    ts_ms = to_ms(now or datetime.now(UTC))
    row = {
        "subject_type": subject_type,
        "subject": subject,
        "purpose": purpose,
        "ts_ms": ts_ms,
        "suppressed": int(suppressed),
        "actor": actor,
        "reason": reason,
    }
    backend.insert("suppressions", [row], SUPPRESSION_COLUMNS)
    action = "suppress" if suppressed else "unsuppress"
    detail = f"purpose {purpose}" if purpose else "every purpose"
    record(backend, AuditEntry(actor, action, subject_type, subject, reason, 1, detail), ts_ms)
    return Suppression(subject_type, subject, purpose, ts_ms)


def suppress(
    backend: Backend,
    subject_type: str,
    subject: str,
    actor: str,
    reason: str,
    *,
    purpose: str = EVERY_PURPOSE,
    now: datetime | None = None,
) -> Suppression:
    """Stop further processing of a subject's data, for one purpose or (by default) every one."""
    return _set(backend, subject_type, subject, True, actor, reason, purpose, now)


def unsuppress(
    backend: Backend,
    subject_type: str,
    subject: str,
    actor: str,
    reason: str,
    *,
    purpose: str = EVERY_PURPOSE,
    now: datetime | None = None,
) -> None:
    """Lift the suppression of one purpose's register (every purpose's, by default)."""
    _set(backend, subject_type, subject, False, actor, reason, purpose, now)


def suppressions(
    backend: Backend, subject_type: str | None = None, subjects: Iterable[str] = ()
) -> SuppressionList:
    """The suppressions in force: all, of one subject type, or of some subjects of it."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if subject_type is not None:
        where.append("subject_type = %(type)s")
        params["type"] = subject_type
    named = sorted(set(subjects))
    if named:
        where.append("has(%(subjects)s, subject)")
        params["subjects"] = named
    sql = f"SELECT subject_type, subject, purpose, since_ms, via FROM ({SUPPRESSIONS_SQL})"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = backend.query(sql, params).rows
    return SuppressionList(
        Suppression(str(t), str(s), str(p), int(since), str(via)) for t, s, p, since, via in rows
    )


def is_suppressed(
    backend: Backend, subject_type: str, subject: str, purpose: str = EVERY_PURPOSE
) -> bool:
    """True when the subject is suppressed for `purpose` (for every purpose, by default)."""
    return suppressions(backend, subject_type, [subject]).covers(subject_type, subject, purpose)


def suppressed_events(purpose: str) -> Exclusion:
    """Events of subjects suppressed for `purpose`, as a condition for reports to leave out."""
    # GLOBAL: on a cluster the set is built once, where the query runs, not on every shard.
    condition = " OR ".join(
        f"ifNull({column}, '') GLOBAL IN (SELECT subject FROM ({SUPPRESSIONS_SQL})"
        f" WHERE subject_type = '{subject_type}'"
        " AND (purpose = '' OR purpose = %(suppressed_for)s))"
        for subject_type, column in _EVENT_COLUMNS
    )
    return Exclusion(f"({condition})", {"suppressed_for": purpose})


def suppression_rows(
    backend: Backend, subject_type: str, subjects: list[str]
) -> list[dict[str, object]]:
    """Every suppression row of the given subjects, oldest first (for exports)."""
    if not subjects:
        return []
    return backend.query(
        "SELECT subject_type, subject, purpose, ts_ms, suppressed, actor, reason"
        " FROM suppressions WHERE subject_type = %(type)s AND has(%(subjects)s, subject)"
        " ORDER BY ts_ms, suppressed",
        {"type": subject_type, "subjects": subjects},
    ).dicts()
