"""Shared fixtures: a real clickhouse-server for the session, and the process's chdb engine."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from ashiato.storage.backend import Store
from ashiato.storage.embedded import EmbeddedEngine, EmbeddedStore
from ashiato.storage.native import NativeStore
from tests.clickhouse_server import ClickHouseServer, start_server

_counter = itertools.count()


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
    made.close()
