"""Admin tokens as an operator manages them: create, list, revoke, against a running server."""

from __future__ import annotations

import json
import signal
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
        actions = json.loads(trail.stdout)
        assert [a["action"] for a in actions] == [
            "admin-token:create",
            "admin-token:list",
            "admin-token:revoke",
        ]
        assert actions[2]["reason"] == "left the team"
        assert token_id in actions[2]["detail"]
    finally:
        served.stop()


def test_rotated_keys_work_in_a_running_server_at_once(tmp_path: Path) -> None:
    served = Served(tmp_path / "var", [])
    try:
        data = str(served.data_dir)

        def click_link() -> str:
            made = run_cli(
                "token",
                "click",
                "--data-dir",
                data,
                "--campaign",
                "c",
                "--recipient",
                "ann@example.com",
                "--url",
                "https://shop.example/",
                "--base-url",
                served.url,
                check=True,
            )
            return made.stdout.strip()

        old = click_link()
        rotated = run_cli(
            "keys", "rotate-tokens", "--data-dir", data, "--reason", "yearly", check=True
        )
        assert "running server now uses the new keys" in rotated.stderr
        new = click_link()
        assert new != old
        for link in (old, new):
            request = urllib.request.Request(link, method="GET")
            opener = urllib.request.build_opener(_NoRedirect)
            try:
                opener.open(request, timeout=10)
                raise AssertionError("expected a redirect")
            except urllib.error.HTTPError as exc:
                assert exc.code == 302, link

        # SIGHUP reloads too: a second rotation written by hand is picked up.
        from ashiato.collector.secrets import rotate_token_key

        rotate_token_key(served.data_dir)
        served.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while True:
            third = click_link()
            request = urllib.request.Request(third)
            try:
                urllib.request.build_opener(_NoRedirect).open(request, timeout=10)
            except urllib.error.HTTPError as exc:
                if exc.code == 302:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.2)

        trail = run_cli(
            "sql",
            "--data-dir",
            data,
            "--format",
            "json",
            "SELECT action, reason FROM audit_log WHERE action LIKE 'keys:%' ORDER BY ts_ms",
            check=True,
        )
        actions = json.loads(trail.stdout)
        assert {"action": "keys:rotate-tokens", "reason": "yearly"} in actions
        assert {"action": "keys:reload", "reason": ""} in actions
    finally:
        out = served.stop()
    assert "keys reloaded" in out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
