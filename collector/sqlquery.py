"""People's SQL queries (`ashiato sql`, `POST /admin/sql`), audited whether they ran or not.

The admin API and the local command run this same code. What a query may be, and the limits it
runs under, are enforced by storage (`Backend.user_query`); here every query leaves its row in
the audit trail: `sql` with the rows it returned, or `sql:refused` with the reason it was
refused, by the gate, at a limit, or by ClickHouse.
"""

from __future__ import annotations

from ashiato.storage import audit
from ashiato.storage.backend import Backend, QueryResult
from ashiato.storage.errors import QueryLimitExceeded, QueryRejected
from ashiato.storage.limits import QueryLimits

# The setting that raises each limit, named in the error so the operator knows what to change.
_LIMIT_SETTINGS = {
    "time": "sql_timeout_seconds",
    "memory": "sql_max_memory_mb",
    "rows": "sql_max_rows and sql_max_result_mb",
    "bytes": "sql_max_result_mb",
}


def run_query(
    backend: Backend, query: str, limits: QueryLimits, actor: str, reason: str = ""
) -> QueryResult:
    """Run one person's query on `backend` and audit it; refusals are raised after auditing."""
    try:
        result = backend.user_query(query, limits)
    except QueryLimitExceeded as exc:
        setting = _LIMIT_SETTINGS.get(exc.limit, "the sql_* settings")
        stopped = QueryLimitExceeded(f"{exc}; the limit is set by {setting}", exc.code, exc.limit)
        _refused(backend, query, actor, reason, str(stopped))
        raise stopped from None
    except QueryRejected as exc:
        _refused(backend, query, actor, reason, str(exc))
        raise
    audit.record(
        backend,
        audit.AuditEntry(actor, "sql", reason=reason, rows=len(result.rows), detail=query),
    )
    return result


def _refused(backend: Backend, query: str, actor: str, reason: str, why: str) -> None:
    stated = f"{reason}; " if reason else ""
    audit.record(
        backend,
        audit.AuditEntry(actor, "sql:refused", reason=f"{stated}refused: {why}", detail=query),
    )
