"""SQL text helpers shared by both backends: parameters, identifiers, read-only checks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from ashiato.storage.errors import QueryRejected, ReadOnlyViolation

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
# Table functions that reach outside the database (files, URLs, other servers, programs).
_OUTSIDE = re.compile(
    r"\b(file|url|s3|s3Cluster|gcs|azureBlobStorage|hdfs|remote|remoteSecure|cluster"
    r"|clusterAllReplicas|executable|mysql|postgresql|sqlite|mongodb|redis|jdbc|odbc|input"
    r"|deltaLake|iceberg|hudi)\s*\(",
    re.I,
)
_READ_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN"})


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


def first_keyword(sql: str) -> str:
    """The statement's first keyword, upper-cased, after comments and brackets."""
    text = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S).lstrip(" \t\r\n(")
    match = re.match(r"[A-Za-z]+", text)
    return match.group(0).upper() if match else ""


def check_read_only(sql: str) -> None:
    """Refuse anything but a single reading statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)."""
    keyword = first_keyword(sql)
    if keyword not in _READ_STATEMENTS:
        raise ReadOnlyViolation(
            "only reading statements are allowed here (SELECT, SHOW, DESCRIBE…), "
            f"got {keyword or 'nothing'}"
        )
    body = _strip_literals(sql.strip().rstrip(";"))
    if ";" in body:
        raise ReadOnlyViolation("only one statement at a time is allowed")
    # The embedded engine cannot pin readonly per query, so a query may not lift it either.
    if re.search(r"\breadonly\b", body, flags=re.I):
        raise ReadOnlyViolation("the readonly setting cannot be changed here")
    outside = _OUTSIDE.search(body)
    if outside:
        raise ReadOnlyViolation(
            f"table function {outside.group(1)}() reaches outside the database; not allowed here"
        )


def _strip_literals(sql: str) -> str:
    """Remove quoted strings and identifiers so a ';' inside them is not taken for a separator."""
    return re.sub(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|`(?:\\.|[^`\\])*`", "''", sql)


def columns_clause(columns: Sequence[str]) -> str:
    """A checked, comma-separated column list for an INSERT."""
    return ", ".join(check_identifier(c) for c in columns)
