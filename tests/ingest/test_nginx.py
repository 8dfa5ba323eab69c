"""A real nginx logging to a file and to ashiato's syslog listener: both paths give the rows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clickhouse_server import free_port
from tests.collector.test_cli import Served, run_cli
from tests.nginx_server import Nginx, nginx_binary, start_nginx

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def _rows(served: Served, site: str) -> list[dict[str, object]]:
    result = run_cli(
        "sql",
        "--data-dir",
        str(served.data_dir),
        "--format",
        "json",
        "SELECT url, method, status, ref_source, ref_term, device, ip, ip_full, "
        "visitor_id, purposes, consent_signal, kind, source FROM events "
        f"WHERE site = '{site}' AND url LIKE '/page%' ORDER BY url",
        check=True,
    )
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def _wait_rows(served: Served, site: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 30
    while True:
        rows = _rows(served, site)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Served, Nginx]]:
    syslog_port = free_port()
    served = Served(
        tmp_path / "var",
        ["--syslog-port", str(syslog_port), "--syslog-site", "syslog", "--batch-ms", "100"],
    )
    nginx = start_nginx(tmp_path / "nginx", syslog_port)
    yield served, nginx
    nginx.stop() if nginx.process.poll() is None else None
    served.stop()


def test_requests_to_nginx_arrive_through_syslog_and_through_the_log_file(
    setup: tuple[Served, Nginx],
) -> None:
    served, nginx = setup
    google = "https://www.google.co.jp/search?q=%E6%B8%8B%E8%B0%B7+%E3%82%AB%E3%83%95%E3%82%A7"
    nginx.get("/page1?x=1", {"Referer": google, "User-Agent": IPHONE})
    nginx.get("/page2", {"User-Agent": "curl/8.5.0"})
    nginx.get("/static/app.css")
    nginx.get("/b.gif?s=shop")
    nginx.get("/healthz")
    expected = [
        {
            "url": "/page1?x=1",
            "method": "GET",
            "status": 200,
            "ref_source": "google",
            "ref_term": "渋谷 カフェ",
            "device": "mobile",
            "ip": "127.0.0.0",
            "ip_full": "127.0.0.1",
            "visitor_id": None,
            "purposes": ["necessary"],
            "consent_signal": "server_log",
            "kind": "access_log",
            "source": "log",
        },
        {
            "url": "/page2",
            "method": "GET",
            "status": 200,
            "ref_source": "",
            "ref_term": "",
            "device": "bot",
            "ip": "127.0.0.0",
            "ip_full": "127.0.0.1",
            "visitor_id": None,
            "purposes": ["necessary"],
            "consent_signal": "server_log",
            "kind": "access_log",
            "source": "log",
        },
    ]
    assert _wait_rows(served, "syslog", 2) == expected

    nginx.stop()
    ingested = run_cli(
        "ingest-log",
        "--data-dir",
        str(served.data_dir),
        "--site",
        "file",
        str(nginx.access_log),
        check=True,
    )
    assert "stored: 3" in ingested.stdout  # the two pages and the fixture's start-up probe
    assert "skipped (excluded): 2" in ingested.stdout
    assert "skipped (own_endpoint): 1" in ingested.stdout
    assert _wait_rows(served, "file", 2) == expected
    assert _rows(served, "syslog") == expected  # nothing counted twice
