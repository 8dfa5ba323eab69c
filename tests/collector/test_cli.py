"""The command line as a user runs it: `serve` in a subprocess, then `sql` against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clickhouse_server import ClickHouseServer, free_port

ASHIATO = [sys.executable, "-P", "-m", "ashiato"]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        [*ASHIATO, *args], capture_output=True, text=True, env=full_env, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ashiato {args} failed: {result.stderr}")
    return result


class Served:
    """A running `ashiato serve` subprocess."""

    def __init__(self, data_dir: Path, extra: list[str]) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [*ASHIATO, "serve", "--data-dir", str(data_dir), "--port", str(self.port), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                out = self.process.stdout.read() if self.process.stdout else ""
                raise AssertionError(f"serve did not come up: {out}")
            time.sleep(0.2)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=30)
        return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path / "var", [])
    yield server
    server.stop()


def test_serve_prints_where_to_point_a_beacon_and_the_admin_token(tmp_path: Path) -> None:
    server = Served(tmp_path / "var", [])
    out = server.stop()
    token = (tmp_path / "var" / "admin.token").read_text().strip()
    assert f"{server.url}/b.gif?s=SITE" in out
    # stdout is not a terminal here (as under systemd): the banner names the file instead.
    assert token not in out
    assert f"admin token:   in {tmp_path / 'var' / 'admin.token'}" in out
    assert oct((tmp_path / "var" / "admin.token").stat().st_mode & 0o777) == "0o600"
    stored = (tmp_path / "var" / "admin_tokens.json").read_text()
    assert token not in stored


def test_sql_reaches_a_running_embedded_server_through_its_admin_api(served: Served) -> None:
    result = run_cli(
        "sql", "--data-dir", str(served.data_dir), "SELECT count() FROM events", check=True
    )
    assert result.stdout.splitlines() == ["count()", "0"]
    result = run_cli(
        "sql",
        "--data-dir",
        str(served.data_dir),
        "--format",
        "json",
        "SELECT 'ア' AS k, 1 AS n",
        check=True,
    )
    assert json.loads(result.stdout) == [{"k": "ア", "n": 1}]
    empty = run_cli(
        "sql",
        "--data-dir",
        str(served.data_dir),
        "--format",
        "json",
        "SELECT 1 AS n WHERE 0",
        check=True,
    )
    assert json.loads(empty.stdout) == []
    lines = run_cli(
        "sql",
        "--data-dir",
        str(served.data_dir),
        "--format",
        "jsonl",
        "SELECT arrayJoin([0, 1]) AS n",
        check=True,
    )
    assert [json.loads(line) for line in lines.stdout.splitlines()] == [{"n": 0}, {"n": 1}]
    audit = run_cli(
        "sql",
        "--data-dir",
        str(served.data_dir),
        "SELECT action, detail FROM audit_log WHERE action = 'sql'",
        check=True,
    )
    assert "SELECT count() FROM events" in audit.stdout


def test_sql_refuses_writes_with_a_clear_error(served: Served) -> None:
    result = run_cli("sql", "--data-dir", str(served.data_dir), "DROP TABLE events_data")
    assert result.returncode == 1
    assert "only one reading statement is allowed here" in result.stderr
    assert "Traceback" not in result.stderr
    still = run_cli(
        "sql", "--data-dir", str(served.data_dir), "EXISTS TABLE events_data", check=True
    )
    assert still.stdout.splitlines()[-1] == "1"


def test_sql_with_a_token_lacking_the_sql_scope_is_refused(served: Served) -> None:
    created = run_cli(
        "admin-token", "create", "--data-dir", str(served.data_dir), "--scope", "read", check=True
    )
    token = created.stdout.strip()
    result = run_cli(
        "sql", "--data-dir", str(served.data_dir), "SELECT 1", env={"ASHIATO_ADMIN_TOKEN": token}
    )
    assert result.returncode == 1
    assert "403" in result.stderr and "'sql' scope" in result.stderr


def test_sql_and_migrate_against_a_clickhouse_server(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    url = clickhouse_server.url_for("cli_db")
    migrated = run_cli("migrate", "--clickhouse-url", url, "--data-dir", str(tmp_path), check=True)
    assert "schema is current (5 migrations applied)" in migrated.stdout
    again = run_cli("migrate", "--clickhouse-url", url, "--data-dir", str(tmp_path), check=True)
    assert "schema is current" in again.stdout
    result = run_cli("sql", "--clickhouse-url", url, "SELECT count() FROM events", check=True)
    assert result.stdout.splitlines() == ["count()", "0"]
    trail = run_cli(
        "sql", "--clickhouse-url", url, "SELECT actor, detail FROM audit_log", check=True
    )
    assert "\tSELECT count() FROM events" in trail.stdout and "cli:" in trail.stdout
    refused = run_cli("sql", "--clickhouse-url", url, "TRUNCATE TABLE events_data")
    assert refused.returncode == 1 and "only one reading statement" in refused.stderr


def test_bad_configuration_fails_at_start_up_naming_the_key(tmp_path: Path) -> None:
    result = run_cli("serve", "--data-dir", str(tmp_path), "--port", "http")
    assert result.returncode == 1
    assert "--port: port: expected an integer" in result.stderr


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"clickhouse://default@127.0.0.1:{free_port()}/x"
    result = run_cli("sql", "--clickhouse-url", url, "SELECT 1")
    assert result.returncode == 1
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr


def test_privacy_commands_as_a_privacy_officer_runs_them(served: Served, tmp_path: Path) -> None:
    data = str(served.data_dir)
    urllib.request.urlopen(f"{served.url}/b.gif?s=shop").close()
    token = run_cli(
        "token",
        "open",
        "--data-dir",
        data,
        "--campaign",
        "nov",
        "--recipient",
        "Ann@Example.com",
        "--base-url",
        served.url,
        check=True,
    ).stdout
    urllib.request.urlopen(token.split('"')[1]).close()
    deadline = time.monotonic() + 20
    while (
        run_cli("sql", "--data-dir", data, "SELECT count() FROM events", check=True).stdout.split()[
            -1
        ]
        != "2"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)

    out = tmp_path / "ann.jsonl"
    exported = run_cli(
        "subject",
        "export",
        "--data-dir",
        data,
        "--recipient",
        "ann@example.com",
        "--reason",
        "disclosure request 17",
        "--out",
        str(out),
        check=True,
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["category"] for r in records] == ["event", "summary"]
    assert records[0]["kind"] == "email_open" and records[0]["campaign"] == "nov"
    assert "exported 1 records" in exported.stderr

    erased = run_cli(
        "subject",
        "erase",
        "--data-dir",
        data,
        "--recipient",
        "ann@example.com",
        "--reason",
        "erasure request 18",
        check=True,
    )
    assert "rows remaining: 0" in erased.stdout
    left = run_cli("sql", "--data-dir", data, "SELECT kind FROM events", check=True)
    assert left.stdout.split() == ["kind", "pageview"]

    dry = run_cli(
        "retention",
        "run",
        "--data-dir",
        data,
        "--dry-run",
        "--now",
        "2099-01-01T00:00:00",
        check=True,
    )
    assert "expire: would have dropped" in dry.stdout
    audit = run_cli("audit", "--data-dir", data, check=True)
    lines = audit.stdout.splitlines()
    assert lines[0].split("\t")[0] == "time"
    actions = [line.split("\t")[2] for line in lines[1:]]
    assert "export" in actions and "erase" in actions
    first_time = lines[1].split("\t")[0]
    assert first_time.startswith("20") and first_time.endswith("+00:00")
    # One subject's trail: only the rows about Ann.
    anns = run_cli("audit", "--data-dir", data, "--recipient", "ann@example.com", check=True)
    assert {line.split("\t")[2] for line in anns.stdout.splitlines()[1:]} >= {"export", "erase"}
    assert all(line.split("\t")[3] == "recipient" for line in anns.stdout.splitlines()[1:])
    # Nothing before the first entry.
    none = run_cli("audit", "--data-dir", data, "--until", "2000-01-01T00:00:00", check=True)
    assert none.stdout.splitlines() == [lines[0]]
    # A refused request is on the trail too.
    run_cli(
        "subject",
        "suppress",
        "--data-dir",
        data,
        "--member",
        "bob",
        "--reason",
        "asked",
        check=True,
    )
    refused = run_cli(
        "provision",
        "record",
        "--data-dir",
        data,
        "--member",
        "bob",
        "--recipient",
        "partner",
        "--purpose",
        "delivery",
        "--categories",
        "orders",
    )
    assert refused.returncode == 1 and "suppressed" in refused.stderr
    trail = run_cli("audit", "--data-dir", data, check=True).stdout
    assert "refused:provision" in trail
    # The privacy notice, with the ledger read through the running server's admin API.
    notice = run_cli("policy", "render", "--data-dir", data, "--cookie-days", "9", check=True)
    assert "| `ashiato_vid` | 9 days |" in notice.stdout
    assert "list no provision" in notice.stdout  # the refused one is not in the ledger
    missing = run_cli("subject", "erase", "--data-dir", data, "--reason", "x")
    assert missing.returncode == 1 and "name the subject" in missing.stderr


def test_key_rotation_and_retirement(tmp_path: Path) -> None:
    from ashiato.collector.secrets import load_secrets

    data = tmp_path / "var"
    before = load_secrets(data)
    rotated = run_cli("keys", "rotate-tokens", "--data-dir", str(data), check=True)
    assert "key k2" in rotated.stdout
    after = load_secrets(data)
    assert after.tokens.current == "k2" and set(after.tokens.keys) == {"k1", "k2"}
    unconfirmed = run_cli("keys", "retire-visitor-key", "--data-dir", str(data))
    assert unconfirmed.returncode == 1 and "--yes" in unconfirmed.stderr
    assert load_secrets(data).visitor_key == before.visitor_key
    run_cli("keys", "retire-visitor-key", "--yes", "--data-dir", str(data), check=True)
    retired = load_secrets(data)
    assert retired.visitor_key != before.visitor_key
    assert before.visitor_key.hex() not in (data / "keys.json").read_text()


@pytest.mark.parametrize(
    "command",
    [
        "serve",
        "migrate",
        "sql",
        "ingest-log",
        "subject erase",
        "subject export",
        "retention run",
        "report",
        "audit",
        "spool status",
        "token click",
        "token optout",
        "keys rotate-tokens",
        "admin-token create",
        "provision record",
    ],
)
def test_every_command_documents_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ashiato.collector.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"], env={})
    assert exit_info.value.code == 0
    assert "usage: ashiato" in capsys.readouterr().out
    # Only `serve` lists every server setting; other commands show their own options first.
    help_text = _help(command)
    own = help_text.index("options:")
    assert "--data-dir" in help_text and "--clickhouse-url" in help_text
    if command == "serve":
        assert "--header-timeout-seconds" in help_text
    else:
        assert "--header-timeout-seconds" not in help_text
        assert "--geoip-city-db" not in help_text
        assert own < help_text.index("where the data is")


def _help(command: str) -> str:
    result = run_cli(*command.split(), "--help", check=True)
    return result.stdout


def test_a_usage_error_is_one_line() -> None:
    result = run_cli("subject", "erase", "--member", "m")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "ashiato subject erase: error: the following arguments are required: --reason "
        "(see ashiato subject erase --help)"
    ]
    unknown = run_cli("sql", "SELECT 1", "--bogus")
    assert len(unknown.stderr.splitlines()) == 1 and "--bogus" in unknown.stderr
