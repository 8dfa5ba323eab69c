"""SQL text helpers shared by both backends: parameters and identifiers.

Nothing here decides what a statement is; that is `sqlgate`, with ClickHouse's own parser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from ashiato.storage.errors import QueryRejected

Params = Mapping[str, Any]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\b": "\\b",
    "\f": "\\f",
    "\r": "\\r",
    "\n": "\\n",
    "\t": "\\t",
    "\0": "\\0",
    "\a": "\\a",
    "\v": "\\v",
}


def check_identifier(name: str) -> str:
    """Return `name` if it is a plain ClickHouse identifier; refuse anything else."""
    if not _IDENTIFIER.fullmatch(name):
        raise QueryRejected(f"not an allowed identifier: {name!r}")
    return name


def literal(value: Any) -> str:
    """Render one Python value as a ClickHouse literal, escaping strings."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    if isinstance(value, list | tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    raise QueryRejected(f"unsupported parameter type: {type(value).__name__}")


def render(sql: str, params: Params | None) -> str:
    """Substitute `%(name)s` placeholders with escaped literals (the driver's pyformat style)."""
    if not params:
        return sql
    return sql % {k: literal(v) for k, v in params.items()}


def columns_clause(columns: Sequence[str]) -> str:
    """A checked, comma-separated column list for an INSERT."""
    return ", ".join(check_identifier(c) for c in columns)
