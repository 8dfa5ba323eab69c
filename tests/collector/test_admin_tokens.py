"""Admin tokens as an operator manages them: create, list, revoke, against a running server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.collector.test_cli import Served, run_cli


def _audit_call(served: Served, token: str) -> int:
    request = urllib.request.Request(
        served.url + "/admin/audit",
        data=b"{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_list_and_revoke_tokens_while_serving(tmp_path: Path) -> None:
    served = Served(tmp_path / "var", [])
    try:
        data = str(served.data_dir)
        created = run_cli(
            "admin-token",
            "create",
            "--data-dir",
            data,
            "--scope",
            "read",
            "--label",
            "dash",
            check=True,
        )
        token = created.stdout.strip()
        token_id = token.split("_")[1]
        assert _audit_call(served, token) == 200

        listed = run_cli("admin-token", "list", "--data-dir", data, check=True).stdout
        lines = listed.splitlines()
        assert len(lines) == 2
        [mine] = [line for line in lines if line.startswith(token_id + " ")]
        assert "  dash  read  created 20" in mine
        assert "last used never" not in mine
        [bootstrap] = [line for line in lines if line != mine]
        assert "  bootstrap  admin  " in bootstrap
        assert token not in listed
        assert (served.data_dir / "admin.token").read_text().strip() not in listed

        revoked = run_cli(
            "admin-token",
            "revoke",
            token_id,
            "--data-dir",
            data,
            "--reason",
            "left the team",
            check=True,
        )
        assert f"revoked token {token_id} (dash)" in revoked.stderr
        deadline = time.monotonic() + 5
        while _audit_call(served, token) != 401:
            assert time.monotonic() < deadline
            time.sleep(0.2)

        missing = run_cli("admin-token", "revoke", "nosuchid", "--data-dir", data)
        assert missing.returncode == 1
        assert "no admin token has the id 'nosuchid'" in missing.stderr
        assert "Traceback" not in missing.stderr

        trail = run_cli(
            "sql",
            "--data-dir",
            data,
            "--format",
            "json",
            "SELECT action, reason, detail FROM audit_log WHERE action LIKE 'admin-token:%'"
            " ORDER BY ts_ms",
            check=True,
        )
        actions = [json.loads(line) for line in trail.stdout.splitlines()]
        assert [a["action"] for a in actions] == [
            "admin-token:create",
            "admin-token:list",
            "admin-token:revoke",
        ]
        assert actions[2]["reason"] == "left the team"
        assert token_id in actions[2]["detail"]
    finally:
        served.stop()
