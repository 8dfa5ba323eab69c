"""Shared fixtures: a real clickhouse-server for the session, the process's chdb engine, and
throwaway databases on both."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ashiato.beacon import useragent
from ashiato.storage.backend import Store, connection
from ashiato.storage.embedded import EmbeddedEngine, EmbeddedStore
from ashiato.storage.native import NativeStore
from ashiato.storage.schema import migrate
from tests.clickhouse_server import ClickHouseServer, start_server

_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def one_user_agent_resolver() -> Iterator[None]:
    """Every parser the tests build shares one compiled set of ua-parser's regexes.

    Compiling them takes a third of a second, more than the rest of a collector's start, and
    the tests start hundreds of collectors. The resolver holds no state between calls (our
    cache sits in `UserAgentParser`), so sharing it changes no answer.
    """
    real = useragent.BestAvailableResolver
    built: dict[int, tuple[Any, Any]] = {}

    def shared(matchers: Any) -> Any:
        if id(matchers) not in built:
            built[id(matchers)] = (matchers, real(matchers))  # keeps `matchers` alive
        return built[id(matchers)][1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(useragent, "BestAvailableResolver", shared)
        yield


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """Debian's clickhouse-server on a free loopback port, stopped at the end of the run."""
    server = start_server(tmp_path_factory.mktemp("clickhouse"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chdb_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedEngine]:
    """The process's one chdb engine (chdb allows one data directory per process)."""
    engine = EmbeddedEngine(tmp_path_factory.mktemp("chdb"))
    try:
        yield engine
    finally:
        engine.close()


def fresh_database(prefix: str = "t") -> str:
    """A database name no other test uses."""
    return f"{prefix}_{next(_counter)}"


def drop_store(store: Store) -> None:
    """Drop the store's database and close the store.

    A table left behind keeps costing: chdb runs each table's cleanup every second, and a few
    hundred leftover databases kept a third of a core busy for the rest of the run.
    """
    with connection(store) as backend:
        sync = " SYNC" if backend.capabilities.embedded else ""  # 18.16 drops at once anyway
        backend.execute(f"DROP DATABASE IF EXISTS {backend.database}{sync}")
    store.close()


def make_store(kind: str, server: ClickHouseServer | None, engine: EmbeddedEngine | None) -> Store:
    """A store of `kind` over a throwaway database, created and ready."""
    database = fresh_database(kind)
    store: Store
    if kind == "server":
        assert server is not None
        store = NativeStore(server.url_for(database))
    else:
        assert engine is not None
        store = EmbeddedStore.sharing(engine, database)
    store.ensure_database()
    return store


@pytest.fixture(params=["server", "embedded"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A throwaway database on each backend in turn; the test id says which."""
    if request.param == "server":
        server = request.getfixturevalue("clickhouse_server")
        made = make_store("server", server, None)
    else:
        engine = request.getfixturevalue("chdb_engine")
        made = make_store("embedded", None, engine)
    yield made
    drop_store(made)


@pytest.fixture(scope="module", params=["server", "embedded"])
def module_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated database on each backend in turn, shared by the tests of one module."""
    if request.param == "server":
        made = make_store("server", request.getfixturevalue("clickhouse_server"), None)
    else:
        made = make_store("embedded", None, request.getfixturevalue("chdb_engine"))
    with connection(made) as backend:
        migrate(backend)
    yield made
    drop_store(made)


@pytest.fixture
def empty_store(module_store: Store) -> Store:
    """The module's migrated database with every table emptied: what a fresh one would hold.

    Emptying six tables costs a few milliseconds; creating and migrating a database costs a
    tenth of a second, which hundreds of collector tests used to pay each.
    """
    with connection(module_store) as backend:
        names = backend.query(
            "SELECT name FROM system.tables WHERE database = %(db)s"
            " AND engine LIKE '%%MergeTree' AND name != 'schema_migrations'",
            {"db": backend.database},
        ).rows
        for (name,) in names:
            backend.execute(f"TRUNCATE TABLE {name}")
    return module_store
