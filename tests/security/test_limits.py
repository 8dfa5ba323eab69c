"""Limits a running `ashiato serve` puts on connections, log chunks and files it creates."""

from __future__ import annotations

import os
import pty
import re
import select
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clickhouse_server import free_port
from tests.collector.test_cli import ASHIATO, Served, run_cli

LIMITS = [
    "--header-timeout-seconds",
    "0.5",
    "--idle-timeout-seconds",
    "1",
    "--max-connections",
    "4",
    "--syslog-idle-seconds",
    "1",
    "--body-timeout-seconds",
    "1",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("limits") / "var"
    syslog_port = free_port()
    server = Served(data_dir, [*LIMITS, "--syslog-port", str(syslog_port)])
    server.syslog_port = syslog_port  # type: ignore[attr-defined]
    yield server
    server.stop()


def _metric(served: Served, name: str, labels: dict[str, str]) -> float:
    with urllib.request.urlopen(served.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the peer closed `sock`, or None if it stayed open that long."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_half_sent_headers_are_cut_off_and_counted(served: Served) -> None:
    before = _metric(
        served, "ashiato_connections_closed_total", {"listener": "http", "reason": "header_timeout"}
    )
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"GET /b.gif?s=x HTTP/1.1\r\nHost: a\r\nUser-Ag")
        closed = _closed_within(sock, 5)
    assert closed is not None and closed < 3
    after = _metric(
        served, "ashiato_connections_closed_total", {"listener": "http", "reason": "header_timeout"}
    )
    assert after == before + 1


def test_a_body_that_stops_arriving_gets_408_and_is_counted(served: Served) -> None:
    labels = {"listener": "http", "reason": "body_timeout"}
    before = _metric(served, "ashiato_connections_closed_total", labels)
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(
            b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"s": "x", '
        )
        sock.settimeout(5)
        started = time.monotonic()
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - started < 3
        assert _closed_within(sock, 3) is not None
    assert _metric(served, "ashiato_connections_closed_total", labels) == before + 1
    assert _metric(served, "ashiato_rejected_total", {"reason": "body_timeout"}) >= 1


def test_an_idle_keep_alive_connection_is_closed_and_counted(served: Served) -> None:
    before = _metric(
        served, "ashiato_connections_closed_total", {"listener": "http", "reason": "idle"}
    )
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        closed = _closed_within(sock, 5)
    assert closed is not None and 0.5 < closed < 3
    assert (
        _metric(served, "ashiato_connections_closed_total", {"listener": "http", "reason": "idle"})
        == before + 1
    )


def test_connections_past_the_cap_are_refused_and_counted(served: Served) -> None:
    before = _metric(
        served, "ashiato_connections_closed_total", {"listener": "http", "reason": "over_capacity"}
    )
    held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(4)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", served.port)) as extra:
            closed = _closed_within(extra, 2)
        assert closed is not None and closed < 1
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    after = _metric(
        served, "ashiato_connections_closed_total", {"listener": "http", "reason": "over_capacity"}
    )
    assert after == before + 1


def test_syslog_tcp_idle_connections_close_and_oversized_frames_count(served: Served) -> None:
    port = served.syslog_port  # type: ignore[attr-defined]
    labels = {"source": "syslog", "reason": "too_long"}
    before = _metric(served, "ashiato_log_lines_rejected_total", labels)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"<190>nginx: " + b"x" * (70 * 1024) + b"\n")
        closed = _closed_within(sock, 5)
    assert closed is not None and closed < 3
    deadline = time.monotonic() + 5
    while _metric(served, "ashiato_log_lines_rejected_total", labels) != before + 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (
        _metric(
            served, "ashiato_connections_closed_total", {"listener": "syslog", "reason": "idle"}
        )
        >= 1
    )


def test_a_busy_port_is_one_clear_line(served: Served, tmp_path: Path) -> None:
    result = run_cli("serve", "--data-dir", str(tmp_path / "other"), "--port", str(served.port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"127.0.0.1:{served.port}" in line and "already in use" in line
    assert "--port" in line and "ASHIATO_PORT" in line
    assert "listening on" not in result.stdout


def test_ingest_log_into_a_running_server_rejects_an_overlong_line_and_keeps_the_rest(
    served: Served, tmp_path: Path
) -> None:
    good = (
        '203.0.113.{n} - - [10/Oct/2026:13:55:36 +0000] "GET /page/{n} HTTP/1.1" 200 512 '
        '"-" "Mozilla/5.0"\n'
    )
    log = tmp_path / "access.log"
    with open(log, "w") as handle:
        for n in range(1, 6):
            handle.write(good.format(n=n))
        handle.write("x" * (20 << 20) + "\n")  # line 6: 20 MB
        for n in range(7, 11):
            handle.write(good.format(n=n))
    result = run_cli("ingest-log", "--data-dir", str(served.data_dir), "--site", "big", str(log))
    assert result.returncode == 0, result.stderr
    assert "stored: 9" in result.stdout
    assert "rejected (too_long): 1" in result.stdout
    assert "access.log:6" in result.stdout
    deadline = time.monotonic() + 30
    while True:
        rows = run_cli(
            "sql",
            "--data-dir",
            str(served.data_dir),
            "SELECT count() FROM events WHERE site = 'big'",
            check=True,
        )
        if rows.stdout.split()[-1] == "9":
            break
        assert time.monotonic() < deadline, rows.stdout
        time.sleep(0.3)


def test_files_holding_personal_data_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    process = subprocess.Popen(
        [
            "sh",
            "-c",
            'umask 000; exec "$@"',
            "sh",
            *ASHIATO,
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/b.gif?s=m", timeout=2).read()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        segments = list((data_dir / "spool").rglob("*.seg")) or list(
            (data_dir / "spool").rglob("*")
        )
        assert segments
        export = tmp_path / "export.jsonl"
        export.write_text("")
        os.chmod(export, 0o666)
        done = run_cli(
            "subject",
            "export",
            "--data-dir",
            str(data_dir),
            "--visitor",
            "nobody",
            "--reason",
            "test",
            "--out",
            str(export),
        )
        assert done.returncode == 0, done.stderr
    finally:
        process.terminate()
        process.communicate(timeout=60)
    assert _mode(export) == 0o600
    for path in [data_dir, data_dir / "clickhouse", *(p for p in data_dir.rglob("*"))]:
        if path.is_symlink():
            continue
        mode = _mode(path)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_bootstrap_token_is_shown_once_and_only_to_a_terminal(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first = _serve_on_a_terminal(data_dir)
    token = (data_dir / "admin.token").read_text().strip()
    assert token in first
    second = _serve_on_a_terminal(data_dir)
    assert token not in second
    assert str(data_dir / "admin.token") in second


def _serve_on_a_terminal(data_dir: Path) -> str:
    port = free_port()
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*ASHIATO, "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    out = b""
    deadline = time.monotonic() + 60
    try:
        while b"metrics:" not in out or b"admin token" not in out:
            assert process.poll() is None and time.monotonic() < deadline, out
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                out += os.read(primary, 65536)
        time.sleep(0.3)
        while select.select([primary], [], [], 0.2)[0]:
            out += os.read(primary, 65536)
    finally:
        process.terminate()
        process.wait(timeout=60)
        os.close(primary)
    return out.decode(errors="replace")
