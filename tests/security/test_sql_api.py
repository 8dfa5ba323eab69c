"""POST /admin/sql on real ClickHouse: the `sql` scope, refusals answered 400 with their
reason and audited, and a slow query that holds up neither /readyz nor writing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from ashiato.collector.app import create_app
from ashiato.collector.appkeys import CONFIG, WRITER
from ashiato.collector.auth import TokenStore
from ashiato.collector.config import load_config
from ashiato.storage.backend import Store, connection

Client = TestClient[Any, Any]
# Three billion hashes: far past the time limit on either backend (with memory to spare).
SLOW = "SELECT sum(cityHash64(x, i)) FROM big ARRAY JOIN range(300) AS i"


@pytest.fixture
async def client(
    store: Store, tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
) -> Client:
    """The collector over the parametrized store, with a 3-second limit on people's queries."""
    overrides = {
        "data_dir": str(tmp_path / "var"),
        "batch_ms": "50",
        "sql_timeout_seconds": "3",
        "sql_max_memory_mb": "3072",
    }
    app = create_app(load_config(overrides, env={}), store=store, registry=CollectorRegistry())
    return await aiohttp_client(app)


def _token(client: Client, *scopes: str) -> dict[str, str]:
    plaintext, _ = TokenStore(client.server.app[CONFIG].data_dir).create(scopes)
    return {"Authorization": f"Bearer {plaintext}"}


async def _sql(client: Client, query: str, headers: dict[str, str]) -> tuple[int, Any]:
    response = await client.post("/admin/sql", data=json.dumps({"query": query}), headers=headers)
    return response.status, await response.json()


async def _audit(store: Store) -> list[tuple[Any, ...]]:
    def read() -> list[tuple[Any, ...]]:
        with connection(store) as backend:
            # Only the SQL rows: the app's own retention runs write theirs too.
            return backend.query(
                "SELECT action, reason, detail FROM audit_log"
                " WHERE action IN ('sql', 'sql:refused', 'denied:sql') ORDER BY ts_ms"
            ).rows

    return await asyncio.to_thread(read)


async def test_a_read_token_is_refused_and_a_sql_token_may_query(
    client: Client, store: Store
) -> None:
    status, body = await _sql(client, "SELECT count() FROM events", _token(client, "read"))
    assert status == 403 and "'sql' scope" in body["error"]
    for scopes in (("sql",), ("admin",)):
        status, body = await _sql(client, "SELECT count() FROM events", _token(client, *scopes))
        assert (status, body["columns"], body["rows"]) == (200, ["count()"], [[0]])
    actions = [action for action, _, _ in await _audit(store)]
    assert actions == ["denied:sql", "sql", "sql"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT * FROM `file`('admin.token', 'LineAsString')", "table functions"),
        ("SELECT 1 -- a read\n; DROP TABLE members", "Multi-statements are not allowed"),
        ("SELECT 1 FORMAT TSV", "a FORMAT clause is not allowed here: FORMAT TSV"),
        ("SELECT name FROM system.users", "outside ashiato's database"),
        ("DROP TABLE members", "only one reading statement"),
        ("SELECT nope FROM events", "nope"),  # refused by ClickHouse itself
    ],
)
async def test_a_refused_query_answers_400_with_its_reason_and_is_audited(
    client: Client, store: Store, query: str, reason: str
) -> None:
    status, body = await _sql(client, query, _token(client, "sql"))
    assert status == 400 and reason in body["error"] and "\n" not in body["error"]
    [(action, why, detail)] = await _audit(store)
    assert (action, detail) == ("sql:refused", query)
    assert reason in why


async def test_readyz_and_writing_go_on_while_a_slow_query_runs(
    client: Client, store: Store
) -> None:
    def make_big_table() -> None:
        with connection(store) as backend:
            backend.execute("CREATE TABLE big (x UInt64) ENGINE = MergeTree ORDER BY x")
            backend.execute("INSERT INTO big SELECT number FROM system.numbers LIMIT 10000000")

    await asyncio.to_thread(make_big_table)
    slow = asyncio.create_task(_sql(client, SLOW, _token(client, "sql")))
    await asyncio.sleep(1.5)  # parsed (a child process on ClickHouse 18.16) and running
    started = time.monotonic()
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await client.get("/b.gif?s=shop")).status == 200
    assert await asyncio.to_thread(client.server.app[WRITER].flush, 10)
    took = time.monotonic() - started
    assert not slow.done(), "the slow query ended before readiness and a write were checked"
    assert took < 2.5
    status, body = await slow
    assert status == 400 and "ran longer than 3 s" in body["error"]
    assert "sql_timeout_seconds" in body["error"]
    actions = [action for action, _, _ in await _audit(store)]
    assert actions == ["sql:refused"]
