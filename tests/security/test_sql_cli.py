"""`ashiato sql` run locally against a ClickHouse server: limits from the settings, a clear
message and exit status instead of a traceback, the audit trail, and no parser, no query."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.clickhouse_server import ClickHouseServer

ASHIATO = [sys.executable, "-P", "-m", "ashiato"]


def _migrated(url: str, data_dir: Path) -> str:
    subprocess.run(
        [*ASHIATO, "migrate", "--clickhouse-url", url, "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return url


def _sql(
    url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASHIATO, "sql", "--clickhouse-url", url, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_a_limit_from_the_settings_stops_a_local_query_with_a_clear_message(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    url = _migrated(clickhouse_server.url_for("sql_cli_limits"), tmp_path)
    for _ in range(3):
        assert _sql(url, "SELECT count() FROM events").returncode == 0
    stopped = _sql(url, "--sql-max-rows", "1", "SELECT detail FROM audit_log")
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert "the query was stopped" in stopped.stderr and "sql_max_rows" in stopped.stderr
    refused = _sql(url, "SELECT * FROM file('/etc/passwd', 'LineAsString')")
    assert refused.returncode == 1 and "table functions are not allowed" in refused.stderr
    trail = _sql(url, "SELECT actor, action FROM audit_log WHERE action LIKE 'sql%'")
    actions = [line.split("\t")[1] for line in trail.stdout.splitlines()[1:]]
    assert actions.count("sql:refused") == 2 and actions.count("sql") == 3
    assert all(line.startswith("cli:") for line in trail.stdout.splitlines()[1:])


def test_without_chdb_an_old_server_refuses_every_query_and_says_what_to_install(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    # A `chdb` package that cannot be imported stands in for an installation without it.
    (tmp_path / "chdb").mkdir()
    (tmp_path / "chdb" / "__init__.py").write_text("raise ImportError('no chdb here')\n")
    url = _migrated(clickhouse_server.url_for("sql_cli_no_chdb"), tmp_path)
    result = _sql(url, "SELECT 1", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "pip install 'ashiato[embedded]'" in result.stderr
