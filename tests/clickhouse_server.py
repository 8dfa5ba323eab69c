"""Start a real clickhouse-server on free loopback ports with a throwaway data directory."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from clickhouse_driver import Client

_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{dir}/log/server.log</log>
        <errorlog>{dir}/log/error.log</errorlog>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <!-- As deploy/clickhouse/merge_tree.xml recommends, shorter still so erasure tests can
         watch replaced parts leave the disk. -->
    <merge_tree><old_parts_lifetime>5</old_parts_lifetime></merge_tree>
    {extra}
</yandex>
"""

_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_binary() -> str:
    """The clickhouse-server executable, or an explanation of how to install it."""
    path = shutil.which("clickhouse-server") or (
        "/usr/sbin/clickhouse-server" if Path("/usr/sbin/clickhouse-server").exists() else None
    )
    if path is None:
        raise RuntimeError("clickhouse-server is not installed: apt-get install clickhouse-server")
    return path


@dataclass
class ClickHouseServer:
    """A running clickhouse-server owned by the tests."""

    directory: Path
    tcp_port: int
    http_port: int
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base native-protocol URL, without a database."""
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}"

    def url_for(self, database: str) -> str:
        """The URL ashiato is configured with to use `database` on this server."""
        return f"{self.url}/{database}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it answers queries."""
        for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.xml"
        config.write_text(
            _CONFIG.format(
                dir=self.directory,
                tcp_port=self.tcp_port,
                http_port=self.http_port,
                extra=self.extra_config,
            )
        )
        (self.directory / "users.xml").write_text(_USERS)
        with open(self.directory / "log" / "stdout.log", "ab") as log:
            self.process = subprocess.Popen(
                [server_binary(), f"--config-file={config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"clickhouse-server exited with {self.process.returncode}; "
                    f"see {self.directory}/log"
                )
            try:
                probe = Client("127.0.0.1", port=self.tcp_port, connect_timeout=1)
                probe.execute("SELECT 1")
                probe.disconnect()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server and wait for it to exit; the data directory stays."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client(self, database: str = "default") -> Client:
        """A clickhouse-driver client straight to the server, for assertions."""
        return Client("127.0.0.1", port=self.tcp_port, database=database)


def start_server(directory: Path, extra_config: str = "") -> ClickHouseServer:
    """Start a server in `directory` on fresh ports."""
    server = ClickHouseServer(directory, free_port(), free_port(), extra_config)
    server.start()
    return server
