"""A collector app over a real store, with helpers to read back what it stored."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from ashiato.collector.app import create_app
from ashiato.collector.appkeys import CONFIG, WRITER
from ashiato.collector.config import load_config
from ashiato.storage.backend import Store, connection

Rows = list[dict[str, Any]]


class Collector:
    """A test client on a running app, and its store."""

    def __init__(self, client: TestClient, store: Store, registry: CollectorRegistry) -> None:
        self.client = client
        self.store = store
        self.registry = registry

    @property
    def data_dir(self) -> Path:
        """The app's state directory (keys, tokens)."""
        return self.client.server.app[CONFIG].data_dir

    async def rows(self, where: str = "1", params: dict[str, Any] | None = None) -> Rows:
        """Rows of the events view after the writer flushed everything queued."""
        app = self.client.server.app
        assert await asyncio.to_thread(app[WRITER].flush, 30)

        def read() -> Rows:
            with connection(self.store) as backend:
                return backend.query(
                    f"SELECT * FROM events WHERE {where} ORDER BY ts_ms", params
                ).dicts()

        return await asyncio.to_thread(read)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The current value of a sample in the app's registry (0 if absent)."""
        value = self.registry.get_sample_value(name, labels or {})
        return value or 0.0


CollectorFactory = Callable[..., Awaitable[Collector]]


@pytest.fixture
def collector(
    store: Store, tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> CollectorFactory:
    """Start the collector over the parametrized store with the given settings."""

    async def start(**settings: Any) -> Collector:
        overrides = {"data_dir": str(tmp_path / "var"), "batch_ms": 50, "cookie_secure": "false"}
        overrides.update({k: str(v) if not isinstance(v, str) else v for k, v in settings.items()})
        config = load_config(overrides, env={})
        registry = CollectorRegistry()
        app = create_app(config, store=store, registry=registry)
        client = await aiohttp_client(app)
        return Collector(client, store, registry)

    return start
