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

from ashiato.storage._private import private_dir
from ashiato.storage._sql import check_identifier, check_read_only, columns_clause, render
from ashiato.storage.backend import QueryResult
from ashiato.storage.capabilities import Capabilities
from ashiato.storage.errors import EmbeddedUnavailable, QueryRejected, StoreInUse
from ashiato.storage.layout import SINGLE

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
    """The process's one chdb session over `data_dir`, serialised by a lock.

    chdb allows a single data directory per process, so every embedded backend of the process
    shares this engine; a file lock keeps a second process from opening the same directory.
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
        try:
            self._session: Any = chdb_session.Session(str(self.path))
        except Exception as exc:
            self._release()
            raise EmbeddedUnavailable(f"cannot open the embedded store: {exc}") from exc
        self.lock = threading.Lock()
        self._database = ""
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
                raise _translate(exc) from exc
            return result.bytes() if result is not None else b""

    def close(self) -> None:
        """Close the session and release the directory."""
        with self.lock:
            self._session.close()
        self._release()

    def _release(self) -> None:
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()


def _translate(exc: Exception) -> QueryRejected:
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

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, read_only: bool = False
    ) -> QueryResult:
        """Run a query and convert its JSON result to the same Python values as the server's."""
        if read_only:
            check_read_only(sql)
        raw = self._engine.run(self.database, render(sql, params), "JSONCompact")
        if not raw.strip():
            return QueryResult((), (), [])
        doc = json.loads(raw)
        names = tuple(m["name"] for m in doc["meta"])
        types = tuple(m["type"] for m in doc["meta"])
        converters = [_converter(t) for t in types]
        rows = [
            tuple(conv(v) for conv, v in zip(converters, row, strict=True)) for row in doc["data"]
        ]
        return QueryResult(names, types, rows)

    def insert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert rows as one JSONEachRow block."""
        if not rows:
            return
        settings = ""
        if dedup_token:
            settings = " SETTINGS insert_deduplication_token = " + render(
                "%(t)s", {"t": dedup_token}
            )
        head = f"INSERT INTO {check_identifier(table)} ({columns_clause(columns)}){settings}"
        body = "\n".join(
            json.dumps({c: row[c] for c in columns}, ensure_ascii=False, default=_json_default)
            for row in rows
        )
        self._engine.run(self.database, f"{head} FORMAT JSONEachRow\n{body}\n")

    def close(self) -> None:
        """Nothing to release: the engine outlives its handles."""


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
