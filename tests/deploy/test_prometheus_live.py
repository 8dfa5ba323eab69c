"""A real Prometheus with deploy/prometheus/ scraping a real collector (embedded store)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from ashiato.collector.app import create_app
from ashiato.collector.config import load_config
from ashiato.storage.embedded import EmbeddedEngine
from tests.clickhouse_server import free_port
from tests.conftest import make_store
from tests.deploy._paths import DEPLOY, RETENTION_METRICS, declared_metrics

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus is missing: apt-get install prometheus"
)


class Prometheus:
    """A Prometheus process owned by a test, with a helper for its HTTP API."""

    def __init__(self, directory: Path, target: str) -> None:
        (directory / "alerts.yml").write_text((DEPLOY / "prometheus" / "alerts.yml").read_text())
        config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
        # Same config, but against this collector and faster, so the test needs no waiting.
        config = (
            config.replace('"collector:8080"', f'"{target}"')
            .replace("15s", "1s")
            .replace("5s", "1s")
        )
        (directory / "prometheus.yml").write_text(config)
        self.port = free_port()
        self.log = directory / "prometheus.log"
        self._log_handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                PROMETHEUS or "",
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log_handle,
        )

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of the answer."""
        query = urllib.parse.urlencode(params)
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{query}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["data"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log_handle.close()


@pytest.fixture
def prometheus_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    return directory


def _add_retention_stand_ins(registry: CollectorRegistry) -> bool:
    """Until the retention jobs export their metrics, export samples of the same shape."""
    present = {m.name for m in registry.collect()}
    if "ashiato_retention_last_success_timestamp_seconds" in present:
        return False
    Gauge(
        "ashiato_retention_last_success_timestamp_seconds",
        "stand-in",
        ["job"],
        registry=registry,
    ).labels("expire").set(time.time())
    Counter("ashiato_retention_rows", "stand-in", ["job"], registry=registry).labels("expire").inc(
        3
    )
    return True


async def _wait_for(check: Any, what: str, prometheus: Prometheus, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = await asyncio.to_thread(check)
        except OSError:
            found = None
        if found:
            return found
        if prometheus.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what}; prometheus log:\n{prometheus.log.read_text()[-3000:]}")
        await asyncio.sleep(0.5)


@pytest.fixture
def embedded_store(chdb_engine: EmbeddedEngine) -> Iterator[Any]:
    store = make_store("embedded", None, chdb_engine)
    yield store
    store.close()


async def test_prometheus_scrapes_the_collector_and_evaluates_the_rules(
    aiohttp_server: Any, embedded_store: Any, tmp_path: Path, prometheus_dir: Path
) -> None:
    config = load_config({"data_dir": str(tmp_path / "var")}, env={})
    registry = CollectorRegistry()
    server = await aiohttp_server(create_app(config, store=embedded_store, registry=registry))
    stand_ins = _add_retention_stand_ins(registry)
    prometheus = Prometheus(prometheus_dir, f"127.0.0.1:{server.port}")
    try:

        def target_up() -> bool:
            targets = prometheus.api("targets")["activeTargets"]
            return bool(targets) and all(t["health"] == "up" for t in targets)

        await _wait_for(target_up, "the collector target never came up", prometheus)

        def rules_evaluated() -> list[dict[str, Any]] | None:
            groups = prometheus.api("rules")["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return (
                rules
                if rules and all(r.get("lastEvaluation", "0001")[:4] != "0001" for r in rules)
                else None
            )

        rules = await _wait_for(rules_evaluated, "the alert rules were never evaluated", prometheus)
        assert all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]
        firing = [r["name"] for r in rules if r["state"] == "firing"]
        assert not firing, f"alerts fire against a healthy collector: {firing}"

        # Prometheus learns every declared family from the collector's exposition.
        metadata = await asyncio.to_thread(prometheus.api, "metadata")
        expected = {n.removesuffix("_total") for n in declared_metrics()}
        if not stand_ins:
            expected -= {n.removesuffix("_total") for n in RETENTION_METRICS}
        seen = {n.removesuffix("_total") for n in metadata}
        assert expected <= seen, f"not exported: {sorted(expected - seen)}"

        def retention_series() -> list[dict[str, Any]]:
            result: list[dict[str, Any]] = prometheus.api(
                "query", query="ashiato_retention_last_success_timestamp_seconds"
            )["result"]
            return result

        if stand_ins:
            series = await _wait_for(retention_series, "no retention series", prometheus)
        else:
            series = await asyncio.to_thread(retention_series)
        for sample in series:
            labels = sample["metric"]
            # The scrape config turns the clashing `job` label into `retention_job`.
            assert labels["job"] == "ashiato"
            assert "exported_job" not in labels
            assert labels.get("retention_job"), labels
    finally:
        prometheus.stop()
