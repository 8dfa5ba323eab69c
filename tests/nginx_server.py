"""Start a real nginx (Debian's) on a loopback port, logging to a file and to syslog."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.clickhouse_server import free_port

_CONF = """
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
    {log_format}
    access_log {dir}/access.log {format_name};
    {syslog}
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """Debian's nginx, if installed."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


@dataclass
class Nginx:
    """A running nginx owned by a test."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def access_log(self) -> Path:
        """The access log file nginx writes."""
        return self.directory / "access.log"

    def get(self, path: str, headers: dict[str, str] | None = None) -> int:
        """Make a request; return the status."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers=headers or {}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)

    def stop(self) -> None:
        """Stop nginx (it flushes its log on exit)."""
        self.process.terminate()
        self.process.wait(timeout=20)


def start_nginx(
    directory: Path, syslog_port: int | None = None, log_format: str | None = None
) -> Nginx:
    """Start nginx in `directory`, optionally also logging to syslog on 127.0.0.1.

    The access log file is written with `log_format` when given (no single quotes in it), else
    with `combined`; syslog always gets `combined`.
    """
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx-light")
    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    syslog = (
        f"access_log syslog:server=127.0.0.1:{syslog_port},tag=nginx combined;"
        if syslog_port
        else ""
    )
    conf = directory / "nginx.conf"
    conf.write_text(
        _CONF.format(
            dir=directory,
            port=port,
            syslog=syslog,
            log_format=f"log_format custom '{log_format}';" if log_format else "",
            format_name="custom" if log_format else "combined",
        )
    )
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Nginx(directory, port, process)
    deadline = time.monotonic() + 20
    while True:
        try:
            server.get("/")
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (directory / "error.log").read_text()
                raise RuntimeError(f"nginx did not start: {log}") from None
            time.sleep(0.1)
    return server
