"""A real Prometheus scrapes `ashiato serve --workers 2` and sees the whole server's totals."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clickhouse_server import ClickHouseServer, free_port
from tests.collector.test_cli import Served

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed")


@pytest.fixture
def collector(clickhouse_server: ClickHouseServer, tmp_path: Path) -> Iterator[Served]:
    served = Served(
        tmp_path / "var",
        [
            "--workers",
            "2",
            "--batch-ms",
            "100",
            "--clickhouse-url",
            clickhouse_server.url_for("prom"),
        ],
    )
    yield served
    served.stop()


@pytest.fixture
def prometheus(collector: Served, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: ashiato\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{collector.port}']\n"
    )
    assert PROMETHEUS is not None
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=30)


def _query(prometheus: str, expr: str) -> float | None:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            result = json.loads(response.read())["data"]["result"]
    except OSError:
        return None
    return float(result[0]["value"][1]) if result else None


def _wait_for(prometheus: str, expr: str, expected: float) -> float | None:
    deadline = time.monotonic() + 60
    value = None
    while time.monotonic() < deadline:
        value = _query(prometheus, expr)
        if value == expected:
            return value
        time.sleep(0.5)
    return value


def test_prometheus_sees_the_totals_of_every_worker(collector: Served, prometheus: str) -> None:
    for i in range(30):
        urllib.request.urlopen(f"{collector.url}/b.gif?s=shop&u=https://shop.example/{i}").close()
    for _ in range(5):
        urllib.request.urlopen(f"{collector.url}/o/forged.gif").close()
    assert _wait_for(prometheus, 'sum(ashiato_hits_total{kind="pageview"})', 30) == 30
    assert _wait_for(prometheus, 'sum(ashiato_rejected_total{reason="bad_token"})', 5) == 5
    assert _wait_for(prometheus, "sum(ashiato_writer_batch_rows_sum)", 30) == 30
    assert _query(prometheus, 'up{job="ashiato"}') == 1
    assert _query(prometheus, "ashiato_spool_bytes") is not None
