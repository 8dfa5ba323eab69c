"""A store under attack: its data directory's secrets, a URL that must never be fetched, and
a snapshot of everything a query could change."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ashiato.collector.auth import TokenStore
from ashiato.collector.secrets import load_secrets
from ashiato.storage.backend import Store, connection
from ashiato.storage.limits import QueryLimits
from ashiato.storage.schema import migrate
from tests.conftest import make_store

LIMITS = QueryLimits(
    timeout_seconds=10, max_memory_bytes=1 << 30, max_rows=10_000, max_result_bytes=16 << 20
)


class Canary:
    """A real HTTP server on a free port that counts every request it gets."""

    def __init__(self) -> None:
        self.hits = 0
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.hits += 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"stolen\n")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/x"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Snapshot:
    """What an attack could have changed."""

    files: dict[str, str]
    tables: frozenset[tuple[str, str]]
    audit: Counter[tuple[str, str, str]]


@dataclass
class Target:
    """A migrated store, the data directory beside it, and the canary URL."""

    store: Store
    data_dir: Path
    canary: Canary

    def snapshot(self) -> Snapshot:
        files = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.data_dir.iterdir())
            if p.is_file()
        }
        with connection(self.store) as backend:
            tables = backend.query(
                "SELECT database, name FROM system.tables"
                " WHERE database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA')"
            ).rows
            audit = backend.query("SELECT actor, action, detail FROM audit_log").rows
        return Snapshot(
            files,
            frozenset((str(d), str(n)) for d, n in tables),
            Counter((str(a), str(b), str(c)) for a, b, c in audit),
        )


def open_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """A migrated throwaway database on the backend `request.param` names, with a data
    directory holding secrets; for a fixture to yield from."""
    if request.param == "server":
        store = make_store("server", request.getfixturevalue("clickhouse_server"), None)
    else:
        store = make_store("embedded", None, request.getfixturevalue("chdb_engine"))
    with connection(store) as backend:
        migrate(backend)
    data_dir = tmp_path_factory.mktemp("var")
    TokenStore(data_dir).ensure_bootstrap()
    load_secrets(data_dir)
    canary = Canary()
    yield Target(store, data_dir, canary)
    canary.close()
    store.close()
