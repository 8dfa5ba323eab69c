"""Row predicates naming one subject's rows, safe on every ClickHouse version.

Each comparison on a Nullable column is guarded with isNotNull and assumeNotNull so the
predicate is never NULL: ClickHouse 18.16's `ALTER TABLE … DELETE WHERE col = x` also removes
the rows where col IS NULL. Empty lists produce no clause rather than `has([], …)`, which 18.16
cannot type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def nullable_in(column: str, values: Sequence[str], name: str) -> tuple[str, dict[str, Any]]:
    """`column` (Nullable(String)) is one of `values`; ("", {}) when there are none."""
    values = sorted({v for v in values if v})
    if not values:
        return "", {}
    return f"(isNotNull({column}) AND has(%({name})s, assumeNotNull({column})))", {name: values}


def any_of(*clauses: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The OR of the non-empty clauses, or ("", {}) when all are empty."""
    parts = [sql for sql, _ in clauses if sql]
    params: dict[str, Any] = {}
    for _, p in clauses:
        params.update(p)
    return (" OR ".join(parts), params) if parts else ("", {})


def event_predicate(
    visitors: Sequence[str], members: Sequence[str], recipients: Sequence[str]
) -> tuple[str, dict[str, Any]]:
    """Events of the given visitor ids, member ids or recipient pseudonyms."""
    return any_of(
        nullable_in("visitor_id", visitors, "visitors"),
        nullable_in("member_id", members, "members"),
        nullable_in("recipient", recipients, "recipients"),
    )
