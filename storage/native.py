"""The ClickHouse server backend, over the native protocol with clickhouse-driver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from clickhouse_driver import Client, errors

from ashiato.storage import sqlgate, sqlparse
from ashiato.storage._sql import check_identifier, columns_clause
from ashiato.storage.backend import QueryResult
from ashiato.storage.capabilities import Capabilities
from ashiato.storage.errors import QueryRejected, StorageError, StorageUnavailable
from ashiato.storage.layout import SINGLE
from ashiato.storage.limits import QueryLimits

# Server error codes that say "try again later" rather than "this statement is wrong".
_RETRYABLE_CODES = frozenset(
    {
        159,  # TIMEOUT_EXCEEDED
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS
        279,  # ALL_CONNECTION_TRIES_FAILED: a shard of a cluster is unreachable
        319,  # UNKNOWN_STATUS_OF_INSERT
        999,  # KEEPER_EXCEPTION
    }
)


_TRANSIENT = (
    errors.NetworkError,
    errors.SocketTimeoutError,
    errors.UnexpectedPacketFromServerError,
    errors.UnknownPacketFromServerError,
    OSError,
    EOFError,
)


def _message(exc: BaseException) -> str:
    """The first line of the server's message."""
    if isinstance(exc, errors.ServerException) and exc.message:
        return str(exc.message).strip().splitlines()[0]
    return str(exc)


def translate(exc: BaseException) -> StorageError:
    """Map a driver exception to the storage error that tells the caller what to do."""
    if isinstance(exc, errors.ServerException):
        code = int(getattr(exc, "code", 0) or 0)
        message = _message(exc)
        if code in _RETRYABLE_CODES:
            return StorageUnavailable(f"ClickHouse is busy or unavailable (code {code}): {message}")
        return QueryRejected(f"ClickHouse rejected the statement (code {code}): {message}", code)
    if isinstance(exc, _TRANSIENT):
        return StorageUnavailable(f"ClickHouse server unreachable: {exc}")
    if isinstance(exc, errors.Error):
        # Raised by the driver itself before sending, e.g. a value that does not fit its column.
        code = int(getattr(exc, "code", 0) or 0)
        return QueryRejected(f"ClickHouse client refused the data (code {code}): {exc}", code)
    return StorageError(str(exc))


def _database_of(url: str) -> str:
    path = urlsplit(url).path.strip("/")
    return check_identifier(path or "default")


class NativeBackend:
    """One clickhouse-driver client; used by a single thread at a time."""

    kind = "server"
    layout = SINGLE

    def __init__(self, url: str, capabilities: Capabilities | None = None) -> None:
        self.database = _database_of(url)
        try:
            self._client = Client.from_url(url)
            self.capabilities = capabilities or Capabilities.from_version(
                self._run("SELECT version()")[0][0]
            )
        except errors.Error as exc:
            raise translate(exc) from exc

    def _run(self, sql: str, params: Any = None, **kwargs: Any) -> Any:
        try:
            return self._client.execute(sql, params, **kwargs)
        except (errors.Error, OSError, EOFError) as exc:
            self._client.disconnect()
            raise translate(exc) from exc

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows."""
        self._run(sql, params)

    def execute_local(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """On one server the rows are here: the same as `execute`."""
        self._run(sql, params)

    def query_local(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """On one server the rows are here: the same as `query`."""
        return self.query(sql, params)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a query and return its rows."""
        return _result(*self._run(sql, params, with_column_types=True))

    def user_query(self, sql: str, limits: QueryLimits) -> QueryResult:
        """Run one person's query: one plain read as ClickHouse's parser sees it, read-only
        and under `limits` on the server (per-query settings), whatever the gate missed."""
        if self.capabilities.parse_queries:
            parsed = sqlgate.parse(sql, self._rows)
        else:
            parsed = sqlparse.parse_in_child(sql)
        listed = self._rows(sqlgate.DATABASES_SQL)
        sqlgate.check(parsed, self.database, sqlgate.other_databases(listed, self.database))
        try:
            rows, column_types = self._client.execute(
                parsed.canonical, with_column_types=True, settings=limits.settings()
            )
        except (errors.Error, OSError, EOFError) as exc:
            self._client.disconnect()
            code = int(getattr(exc, "code", 0) or 0)
            raise limits.exceeded(code) or translate(exc) from exc
        return _result(rows, column_types)

    def _rows(self, sql: str) -> list[str]:
        """The first column of a statement of ours (the gate's formatQuery and EXPLAIN AST)."""
        return [str(row[0]) for row in self._run(sql)]

    def insert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert rows as one block; a dedup token is sent where the server knows it."""
        if not rows:
            return
        # Column by column: one pass per column here, and the driver skips its own transpose.
        columns_clause(columns)  # refuses a hostile name before any value is read
        data = [[row[c] for row in rows] for c in columns]
        self.insert_columns(table, columns, data, dedup_token=dedup_token, settings=settings)

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        *,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert one block column by column, as the native protocol carries it."""
        if not data or not data[0]:
            return
        settings = dict(settings or {})
        if dedup_token and self.capabilities.dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        sql = f"INSERT INTO {check_identifier(table)} ({columns_clause(columns)}) VALUES"
        self._run(sql, data, settings=settings, columnar=True)

    def close(self) -> None:
        """Close the connection."""
        self._client.disconnect()


def _result(rows: list[Any], column_types: list[tuple[str, str]]) -> QueryResult:
    names = tuple(name for name, _ in column_types)
    types = tuple(type_ for _, type_ in column_types)
    return QueryResult(names, types, [tuple(_plain(v) for v in row) for row in rows])


def _plain(value: Any) -> Any:
    """Driver values as plain Python: UUIDs as text, tuples inside arrays as lists."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if type(value).__name__ == "UUID":
        return str(value)
    return value


class NativeStore:
    """A ClickHouse server reached by URL: clickhouse://user:password@host:9000/database."""

    kind = "server"

    def __init__(self, url: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("clickhouse", "clickhouses"):
            raise StorageError(
                f"clickhouse_url must start with clickhouse:// or clickhouses://, got {scheme!r}"
            )
        self.url = url
        self.database = _database_of(url)
        self._capabilities: Capabilities | None = None

    def ensure_database(self) -> None:
        """Create the configured database, connecting to `default` since it may not exist yet."""
        parts = urlsplit(self.url)
        bootstrap = urlunsplit(parts._replace(path="/default"))
        backend = NativeBackend(bootstrap)
        try:
            backend.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        finally:
            backend.close()

    def connect(self) -> NativeBackend:
        """A new client connection (clients are never shared between threads)."""
        backend = NativeBackend(self.url, self._capabilities)
        self._capabilities = backend.capabilities
        return backend

    def close(self) -> None:
        """Nothing is held between connections."""
