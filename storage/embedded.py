"""The embedded backend: the ClickHouse engine in-process through chdb, over a data directory."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from ashiato.storage import sqlgate
from ashiato.storage._private import private_dir
from ashiato.storage._sql import check_identifier, columns_clause, literal, render
from ashiato.storage.backend import QueryResult
from ashiato.storage.capabilities import Capabilities
from ashiato.storage.errors import EmbeddedUnavailable, QueryRejected, StoreInUse
from ashiato.storage.layout import SINGLE
from ashiato.storage.limits import QueryLimits

_INSTALL_HINT = (
    "the embedded store needs chdb: install it with `pip install 'ashiato[embedded]'`, "
    "or set clickhouse_url to use a ClickHouse server"
)
_SESSION_SETTINGS = (
    "SET output_format_json_quote_64bit_integers = 0",
    "SET output_format_json_quote_64bit_floats = 0",
    "SET output_format_write_statistics = 0",
)


class EmbeddedEngine:
    """The process's one chdb engine over `data_dir`: our session, and one for people's queries.

    chdb allows a single data directory per process, so every embedded backend of the process
    shares this engine; a file lock keeps a second process from opening the same directory.
    Each session is serialised by its own lock. People's queries (`ashiato sql`) run in a
    second session, so a slow one holds up neither the writer nor `/readyz`.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        try:
            # chdb ships no type information; it is used through this one handle.
            chdb_session: Any = importlib.import_module("chdb.session")
        except ImportError as exc:
            raise EmbeddedUnavailable(_INSTALL_HINT) from exc
        self.path = Path(data_dir).resolve() / "clickhouse"
        private_dir(self.path.parent)
        private_dir(self.path)
        self._lock_file = open(self.path.parent / "chdb.lock", "a+")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise StoreInUse(
                f"the data directory {self.path.parent} is in use by another ashiato process; "
                "reach that server through its admin API instead"
            ) from exc
        # An empty, private user_files_path, as a server has. It confines nothing here: chdb
        # runs as clickhouse-local, whose file() and INTO OUTFILE reach any path whatever it
        # says; people's queries are kept off the filesystem by the query gate (`sqlgate`).
        user_files = self.path.parent / "user_files"
        user_files.mkdir(mode=0o700, exist_ok=True)
        user_files.chmod(0o700)
        self._address = f"{self.path}?user_files_path={user_files}"
        self._chdb = chdb_session
        try:
            self._session: Any = chdb_session.Session(self._address)
        except Exception as exc:
            self._release()
            raise EmbeddedUnavailable(f"cannot open the embedded store: {exc}") from exc
        self.lock = threading.Lock()
        self._database = ""
        self._people: Any = None  # the session for people's queries, opened when first needed
        self._people_lock = threading.Lock()
        self._people_database = ""
        for statement in _SESSION_SETTINGS:
            self._session.query(statement)
        version = self._session.query("SELECT version()", "CSV").bytes().decode().strip('"\n')
        self.capabilities = Capabilities.from_version(version, embedded=True)

    def run(self, database: str, sql: str, fmt: str = "CSV") -> bytes:
        """Run one statement in `database`; the caller holds no lock."""
        with self.lock:
            try:
                if database != self._database:
                    self._session.query(f"USE {database}")
                    self._database = database
                result = self._session.query(sql, fmt)
            except Exception as exc:
                raise translate(exc) from exc
            return result.bytes() if result is not None else b""

    def run_for_people(self, database: str, sql: str, fmt: str = "CSV") -> bytes:
        """Run one statement in `database` in the session kept for people's queries."""
        with self._people_lock:
            try:
                if self._people is None:
                    self._people = self._chdb.Session(self._address)
                if database != self._people_database:
                    # A new session starts in `default`, where clickhouse-local reads files by
                    # name; every statement here runs in the store's own database.
                    self._people.query(f"USE {check_identifier(database)}")
                    self._people_database = database
                result = self._people.query(sql, fmt)
            except Exception as exc:
                # chdb keeps what a failed query had written of its output and hands it out
                # with the next result; a fresh session (cheap, same engine) starts clean.
                if self._people is not None:
                    self._people.close()
                self._people, self._people_database = None, ""
                raise translate(exc) from exc
            return result.bytes() if result is not None else b""

    def close(self) -> None:
        """Close the sessions and release the directory."""
        with self._people_lock:
            if self._people is not None:
                self._people.close()
        with self.lock:
            self._session.close()
        self._release()

    def _release(self) -> None:
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()


def translate(exc: Exception) -> QueryRejected:
    """The storage error for an exception chdb raised, with ClickHouse's error code."""
    message = str(exc).strip()
    code = 0
    if message.startswith("Code: "):
        head = message[6:].split(".", 1)[0]
        code = int(head) if head.isdigit() else 0
    first = message.splitlines()[0] if message else type(exc).__name__
    return QueryRejected(f"ClickHouse rejected the statement: {first}", code)


class EmbeddedBackend:
    """A handle on the shared engine bound to one database."""

    kind = "embedded"
    layout = SINGLE

    def __init__(self, engine: EmbeddedEngine, database: str) -> None:
        self._engine = engine
        self.database = check_identifier(database)
        self.capabilities = engine.capabilities

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows."""
        self._engine.run(self.database, render(sql, params))

    def execute_local(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """The embedded store is one server: the same as `execute`."""
        self.execute(sql, params)

    def query_local(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """The embedded store is one server: the same as `query`."""
        return self.query(sql, params)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a query and convert its JSON result to the same Python values as the server's."""
        return _result(self._engine.run(self.database, render(sql, params), "JSONCompact"))

    def user_query(self, sql: str, limits: QueryLimits) -> QueryResult:
        """Run one person's query: one plain read as chdb's parser sees it, read-only, limited."""
        parsed = sqlgate.parse(sql, self._people_rows)
        listed = self._people_rows(sqlgate.DATABASES_SQL)
        sqlgate.check(parsed, self.database, sqlgate.other_databases(listed, self.database))
        # chdb takes no per-query settings but a SETTINGS clause; the gate refused any other.
        clause = ", ".join(f"{k} = {literal(v)}" for k, v in limits.settings().items())
        try:
            raw = self._engine.run_for_people(
                self.database, f"{parsed.canonical}\nSETTINGS {clause}", "JSONCompact"
            )
        except QueryRejected as exc:
            raise limits.exceeded(exc.code) or exc from None
        return _result(raw)

    def _people_rows(self, sql: str) -> list[str]:
        """The first column of a statement of ours, in the people's session."""
        raw = self._engine.run_for_people(self.database, sql, "JSONCompact")
        return [str(row[0]) for row in json.loads(raw)["data"]] if raw.strip() else []

    def insert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert rows as one block (see `insert_columns`)."""
        if rows:
            columns_clause(columns)  # refuses a hostile name before any value is read
            data = [[row[c] for row in rows] for c in columns]
            self.insert_columns(table, columns, data, dedup_token=dedup_token)

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert one block as a single JSONCompactColumns payload: one encode for the batch,
        none per row."""
        if not data or not data[0]:
            return
        settings = ""
        if dedup_token:
            settings = " SETTINGS insert_deduplication_token = " + render(
                "%(t)s", {"t": dedup_token}
            )
        head = f"INSERT INTO {check_identifier(table)} ({columns_clause(columns)}){settings}"
        body = orjson.dumps(data, default=_json_default).decode()
        self._engine.run(self.database, f"{head} FORMAT JSONCompactColumns\n{body}\n")

    def close(self) -> None:
        """Nothing to release: the engine outlives its handles."""


def _result(raw: bytes) -> QueryResult:
    """A JSONCompact result as the same Python values the server backend returns."""
    if not raw.strip():
        return QueryResult((), (), [])
    doc = json.loads(raw)
    names = tuple(m["name"] for m in doc["meta"])
    types = tuple(m["type"] for m in doc["meta"])
    converters = [_converter(t) for t in types]
    rows = [tuple(conv(v) for conv, v in zip(converters, row, strict=True)) for row in doc["data"]]
    return QueryResult(names, types, rows)


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _converter(type_name: str) -> Any:
    """A function turning a JSON value of ClickHouse type `type_name` into its Python value."""
    inner = type_name
    for wrapper in ("LowCardinality(", "Nullable("):
        if inner.startswith(wrapper):
            inner = inner[len(wrapper) : -1]
    if inner.startswith("Array("):
        element = _converter(inner[6:-1])
        return lambda v: None if v is None else [element(x) for x in v]
    if inner == "Date" or inner == "Date32":
        return lambda v: None if v is None else date.fromisoformat(v)
    if inner.startswith("DateTime"):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if inner.startswith(("UInt", "Int")) and "128" not in inner and "256" not in inner:
        return lambda v: None if v is None else int(v)
    return lambda v: v


class EmbeddedStore:
    """The embedded store: one engine per process, handles bound to a database."""

    kind = "embedded"

    def __init__(self, data_dir: str | os.PathLike[str], database: str = "ashiato") -> None:
        self.engine = EmbeddedEngine(data_dir)
        self.database = check_identifier(database)
        self._owns_engine = True

    @classmethod
    def sharing(cls, engine: EmbeddedEngine, database: str) -> EmbeddedStore:
        """A store on an engine that is already open, bound to another database."""
        store = cls.__new__(cls)
        store.engine = engine
        store.database = check_identifier(database)
        store._owns_engine = False
        return store

    def ensure_database(self) -> None:
        """Create the configured database."""
        self.engine.run("default", f"CREATE DATABASE IF NOT EXISTS {self.database}")

    def connect(self) -> EmbeddedBackend:
        """A handle on the shared engine."""
        return EmbeddedBackend(self.engine, self.database)

    def close(self) -> None:
        """Close the engine if this store opened it."""
        if self._owns_engine:
            self.engine.close()
