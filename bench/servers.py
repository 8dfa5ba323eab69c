"""Starting the servers under test, each pinned to the cores it may use."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import _proc
from tests.clickhouse_server import ClickHouseServer, free_port, start_server
from tests.nginx_server import nginx_binary

REPO = Path(__file__).resolve().parent.parent
ASHIATO = Path(sys.executable).parent / "ashiato"

_NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /b.gif {{ empty_gif; add_header Cache-Control "no-store, max-age=0"; }}
        location = /healthz {{ return 200 "ok\\n"; }}
    }}
}}
"""


@dataclass
class Running:
    """A server under test: its process (the root of its tree) and base URL."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def pid(self) -> int:
        """The root process id."""
        return self.process.pid

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, then wait (ashiato drains its spool into ClickHouse on the way out)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Poll `url` until it answers 200, or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"server did not come up at {url}:\n{text[-3000:]}")
        time.sleep(0.1)


def _spawn(
    name: str, argv: list[str], directory: Path, port: int, ready: str, cpus: str
) -> Running:
    log = directory / f"{name}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            ["taskset", "-c", cpus, *argv], stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + ready, process, log)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return Running(name, process, base, log)


def start_nginx(directory: Path, cpus: str = "0") -> Running:
    """nginx answering /b.gif with `empty_gif`, access log off, one worker."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx-light (or make bench)")
    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(dir=directory, port=port))
    argv = [binary, "-c", str(conf), "-p", str(directory)]
    return _spawn("nginx", argv, directory, port, "/healthz", cpus)


def start_bare(directory: Path, cpus: str = "0") -> Running:
    """The bare aiohttp pixel handler."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare_pixel", str(port)]
    return _spawn("bare-aiohttp", argv, directory, port, "/healthz", cpus)


def start_ashiato(
    directory: Path,
    *,
    clickhouse_url: str,
    geo: tuple[Path, Path],
    workers: int = 1,
    cpus: str = "0",
    loader_cpus: str = "1",
    name: str = "ashiato",
) -> Running:
    """`ashiato serve` with everything on: ClickHouse (or chdb, with an empty URL), GeoIP,
    trusted proxy, the spool. The edges run on `cpus`; the loader and the supervisor, which
    answer no request, on `loader_cpus`."""
    port = free_port()
    argv = [
        str(ASHIATO),
        "serve",
        f"--data-dir={directory / 'data'}",
        f"--port={port}",
        f"--clickhouse-url={clickhouse_url}",
        f"--geoip-city-db={geo[0]}",
        f"--geoip-asn-db={geo[1]}",
        "--trusted-proxies=127.0.0.1/32",
        f"--workers={workers}",
        "--log-level=warning",
    ]
    # /readyz answers once the loader does, after migrating.
    running = _spawn(name, argv, directory, port, "/readyz", cpus)
    pin_all_threads(running.pid, loader_cpus)
    for pid in role_pids(running.pid, "loader"):
        pin_all_threads(pid, loader_cpus)
    return running


def role_pids(root: int, role: str) -> list[int]:
    """The processes under `root` started in `role` (edge, loader)."""
    found = []
    for pid in _proc.tree(root):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--role" in argv and role.encode() in argv:
            found.append(pid)
    return found


def pin_all_threads(pid: int, cpus: str) -> None:
    """Move every thread of `pid` (and those it starts later) to `cpus`."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True, capture_output=True)


@contextlib.contextmanager
def clickhouse(directory: Path, cpus: str = "1") -> Iterator[ClickHouseServer]:
    """A throwaway clickhouse-server, kept off the core the server under test runs on."""
    # The driver logs each refused probe while the server starts; that is expected here.
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    server = start_server(directory)
    assert server.process is not None
    pin_all_threads(server.process.pid, cpus)
    try:
        yield server
    finally:
        server.stop()


def clickhouse_version(server: ClickHouseServer) -> str:
    """The server's version string."""
    client = server.client()
    try:
        return str(client.execute("SELECT version()")[0][0])
    finally:
        client.disconnect()


def count_rows(server: ClickHouseServer, database: str, table: str = "events_data") -> int:
    """Rows in `database.table` right now (0 if it does not exist)."""
    client = server.client()
    try:
        exists = client.execute(
            "SELECT count() FROM system.tables WHERE database = %(d)s AND name = %(t)s",
            {"d": database, "t": table},
        )[0][0]
        if not exists:
            return 0
        return int(client.execute(f"SELECT count() FROM {database}.{table}")[0][0])
    finally:
        client.disconnect()


def count_embedded(base_url: str, data_dir: Path, table: str = "events_data") -> int:
    """Rows in a running embedded server's table, asked through its admin API."""
    token = (data_dir / "admin.token").read_text().strip()
    request = urllib.request.Request(
        base_url + "/admin/sql",
        data=json.dumps({"query": f"SELECT count() FROM {table}"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.loads(response.read())["rows"][0][0])
