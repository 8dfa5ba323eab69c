"""Limits every query a person sends runs under: time, memory, result rows and bytes."""

from __future__ import annotations

from dataclasses import dataclass

from ashiato.storage.errors import QueryLimitExceeded

# ClickHouse error codes raised when a query goes over one of its limits, and which limit.
_LIMIT_CODES = {
    158: "rows",  # TOO_MANY_ROWS
    159: "time",  # TIMEOUT_EXCEEDED
    160: "time",  # TOO_SLOW (the estimate says it cannot finish in time)
    241: "memory",  # MEMORY_LIMIT_EXCEEDED
    307: "bytes",  # TOO_MANY_BYTES
    396: "rows",  # TOO_MANY_ROWS_OR_BYTES
}


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """What one query may use; applied by ClickHouse itself, never by counting here."""

    timeout_seconds: int
    max_memory_bytes: int
    max_rows: int
    max_result_bytes: int

    def settings(self) -> dict[str, int | str]:
        """The ClickHouse settings that enforce these limits, readonly included."""
        return {
            "max_execution_time": self.timeout_seconds,
            "max_memory_usage": self.max_memory_bytes,
            "max_result_rows": self.max_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "timeout_overflow_mode": "throw",
            # Last, so that every limit above is in force before writes are shut off.
            "readonly": 1,
        }

    def exceeded(self, code: int) -> QueryLimitExceeded | None:
        """The error to report when ClickHouse stopped a query with `code`; None if not a limit."""
        kind = _LIMIT_CODES.get(code)
        if kind is None:
            return None
        what = {
            "time": f"it ran longer than {self.timeout_seconds} s",
            "memory": f"it needed more than {self.max_memory_bytes >> 20} MB of memory",
            "rows": f"its result is over {self.max_rows} rows or {self.max_result_bytes >> 20} MB",
            "bytes": f"its result is over {self.max_result_bytes >> 20} MB",
        }[kind]
        return QueryLimitExceeded(f"the query was stopped: {what}", code, kind)
