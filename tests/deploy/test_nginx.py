"""deploy/nginx/ashiato.conf in Debian's nginx: valid, and forwarding what the collector needs."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.clickhouse_server import free_port
from tests.deploy._paths import DEPLOY
from tests.nginx_server import nginx_binary

NGINX = nginx_binary()
OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(
    NGINX is None or OPENSSL is None, reason="needs nginx (nginx-light) and openssl"
)

_MAIN = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    access_log {dir}/access.log combined;
    include {dir}/ashiato.conf;
}}
"""


def _configure(directory: Path, upstream_port: int) -> tuple[Path, int]:
    """The site as shipped, with a test certificate, loopback ports and the given upstream."""
    (directory / "tmp").mkdir(parents=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(OPENSSL or "", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    site = (DEPLOY / "nginx" / "ashiato.conf").read_text()
    for old, new in {
        "/etc/ssl/ashiato/fullchain.pem": str(cert),
        "/etc/ssl/ashiato/privkey.pem": str(key),
        "127.0.0.1:8080": f"127.0.0.1:{upstream_port}",
        "listen 80;": f"listen 127.0.0.1:{free_port()};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{port} ssl http2;",
        "listen [::]:80;": "",
        "listen [::]:443 ssl http2;": "",
    }.items():
        assert old in site, old
        site = site.replace(old, new)
    (directory / "ashiato.conf").write_text(site)
    main = directory / "nginx.conf"
    main.write_text(_MAIN.format(dir=directory))
    return main, port


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    main, _ = _configure(tmp_path, free_port())
    result = subprocess.run(
        [NGINX or "", "-t", "-c", str(main), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


async def test_nginx_forwards_the_client_and_logs_no_beacon(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    seen: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append({**request.headers, "path": request.path})
        return web.Response(text="ok")

    upstream = web.Application()
    upstream.router.add_route("*", "/{tail:.*}", echo)
    backend = await aiohttp_server(upstream)
    main, port = _configure(tmp_path, backend.port)
    nginx = subprocess.Popen(
        [NGINX or "", "-c", str(main), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE

    def get(path: str, headers: dict[str, str] | None = None) -> int:
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}{path}", headers={"Host": "collector.example.com"}
        )
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=5, context=insecure) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                await asyncio.to_thread(get, "/healthz")
                break
            except OSError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((tmp_path / "error.log").read_text())
                await asyncio.sleep(0.1)
        spoofed = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=198.51.100.7"}
        assert await asyncio.to_thread(get, "/b.gif?s=shop", spoofed) == 200
        assert await asyncio.to_thread(get, "/metrics") == 403
    finally:
        nginx.terminate()
        nginx.wait(timeout=20)
    beacon = next(h for h in seen if h["path"] == "/b.gif")
    # The client's own claim stays on the left; nginx appends the address it saw.
    assert beacon["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert beacon["X-Forwarded-Proto"] == "https"
    assert beacon["Host"] == "collector.example.com"
    assert "Forwarded" not in beacon
    assert all(h["path"] != "/metrics" for h in seen)
    # Beacon hits are recorded by the collector, not in nginx's access log.
    assert "/b.gif" not in (tmp_path / "access.log").read_text()
