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


HOST_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $scheme://$http_host'
)


def _urls(served: Served, site: str) -> list[str]:
    result = run_cli(
        "sql",
        "--data-dir",
        str(served.data_dir),
        "--format",
        "json",
        f"SELECT url FROM events WHERE site = '{site}' AND url LIKE '%/page%' ORDER BY url",
        check=True,
    )
    return [row["url"] for row in json.loads(result.stdout)]


def _wait_urls(served: Served, site: str, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    while True:
        urls = _urls(served, site)
        if len(urls) >= count or time.monotonic() > deadline:
            return urls
        time.sleep(0.3)


def test_urls_are_whole_from_the_logged_host_and_scheme_or_the_base_url(tmp_path: Path) -> None:
    syslog_port = free_port()
    served = Served(
        tmp_path / "var",
        [
            "--syslog-port",
            str(syslog_port),
            "--syslog-site",
            "syslog",
            "--syslog-base-url",
            "https://shop.example",
            "--batch-ms",
            "100",
        ],
    )
    nginx = start_nginx(tmp_path / "nginx", syslog_port, log_format=HOST_FORMAT)
    try:
        nginx.get("/page1?x=1")
        nginx.get("/page2")
        # syslog lines are `combined`: no host in them, so the setting gives it.
        assert _wait_urls(served, "syslog", 2) == [
            "https://shop.example/page1?x=1",
            "https://shop.example/page2",
        ]
        nginx.stop()
        here = f"http://127.0.0.1:{nginx.port}"
        run_cli(
            "ingest-log",
            "--data-dir",
            str(served.data_dir),
            "--site",
            "file",
            "--format",
            HOST_FORMAT,
            str(nginx.access_log),
            check=True,
        )
        assert _wait_urls(served, "file", 2) == [f"{here}/page1?x=1", f"{here}/page2"]
    finally:
        if nginx.process.poll() is None:
            nginx.stop()
        served.stop()
