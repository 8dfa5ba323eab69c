"""Aggregate reports: each event counted once, people never singled out.

Reports read the deduplicating `events` view, leave out suppressed subjects, bots and
automated fetches (mail proxies, link scanners), and merge every group smaller than
`min_group` into one "(other)" row, so no row describes fewer than `min_group` events.

Who is suppressed is retention's rule (`retention.suppress.suppressed_events`); storage sits
below retention, so the caller passes it in as an `Exclusion`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ashiato.storage.backend import Backend
from ashiato.storage.errors import QueryRejected

# Dimensions a report may group by: none of them identifies a person.
DIMENSIONS = {
    "day": "day",
    "month": "toStartOfMonth(day)",
    "site": "site",
    # E-mail opens and clicks that a mail proxy or link scanner made stay apart from people's.
    "kind": "if(automated != '', concat(kind, ' (automated)'), kind)",
    "url": "url",
    "ref_term": "ref_term",
    "name": "name",
    "ref_medium": "ref_medium",
    "ref_source": "ref_source",
    "country": "country",
    "device": "device",
    "browser": "browser",
    "os": "os",
    "language": "language",
    "campaign": "campaign",
    "retention_class": "retention_class",
}


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Events a report leaves out: a condition on the events view's columns, and its params."""

    condition: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Report:
    """Grouped event counts; `hidden` events were in groups too small to show."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    hidden: int


def traffic(
    backend: Backend,
    *,
    since: date,
    until: date,
    exclude: Exclusion,
    by: Sequence[str] = ("day", "site", "kind"),
    min_group: int = 5,
    include_automated: bool = False,
) -> Report:
    """Event counts per group between two days (inclusive), without the `exclude`d events."""
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown or not by:
        raise QueryRejected(
            f"cannot group by {unknown[0] if unknown else 'nothing'}; "
            f"choose from {', '.join(DIMENSIONS)}"
        )
    if min_group < 1:
        raise QueryRejected("min_group must be at least 1")
    keys = ", ".join(f"{DIMENSIONS[d]} AS {d}" for d in by)
    # Bots are left out unless asked for; automated e-mail fetches are shown on rows of their
    # own when the report is by kind, and left out otherwise.
    if include_automated:
        automated = ""
    elif "kind" in by:
        automated = " AND NOT is_bot"
    else:
        automated = " AND NOT is_bot AND automated = ''"
    result = backend.query(
        f"SELECT {keys}, count() AS events,"
        " uniqExactIf(ifNull(visitor_id, ''), isNotNull(visitor_id)) AS visitors FROM events"
        f" WHERE day >= %(since)s AND day <= %(until)s{automated}"
        f" AND NOT {exclude.condition}"
        f" GROUP BY {', '.join(by)} ORDER BY {', '.join(by)}",
        {**exclude.params, "since": since, "until": until},
    )
    shown = [row for row in result.rows if int(row[-2]) >= min_group]
    hidden = sum(int(row[-2]) for row in result.rows if int(row[-2]) < min_group)
    if hidden:
        # Visitors of the merged groups are not added up: one visitor may be in several.
        shown.append((*(["(other)"] * len(by)), hidden, None))
    return Report((*by, "events", "visitors"), shown, hidden)
