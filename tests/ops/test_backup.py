"""A backup of the data directory, restored elsewhere, brings back events, keys and audit trail."""

from __future__ import annotations

import json
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.collector.test_cli import Served, run_cli


def _count(data: Path, sql: str) -> int:
    result = run_cli("sql", "--data-dir", str(data), sql, check=True)
    return int(result.stdout.split()[-1])


def test_restoring_a_backup_of_the_data_directory(tmp_path: Path) -> None:
    original = tmp_path / "var"
    served = Served(original, [])
    try:
        for n in range(5):
            urllib.request.urlopen(f"{served.url}/b.gif?s=backup&u=/p{n}", timeout=5).read()
        deadline = time.monotonic() + 30
        while _count(original, "SELECT count() FROM events WHERE site = 'backup'") != 5:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        link = run_cli(
            "token",
            "click",
            "--data-dir",
            str(original),
            "--campaign",
            "c",
            "--recipient",
            "ann@example.com",
            "--url",
            "https://shop.example/",
            check=True,
        ).stdout.strip()
    finally:
        served.stop()

    # The README's procedure: stop the server, archive the whole directory, restore it.
    archive = tmp_path / "backup.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(original, arcname="var")
    shutil.rmtree(original)
    restored_root = tmp_path / "restored"
    with tarfile.open(archive) as tar:
        tar.extractall(restored_root, filter="tar")
    restored = restored_root / "var"

    assert _count(restored, "SELECT count() FROM events WHERE site = 'backup'") == 5
    assert _count(restored, "SELECT count() FROM audit_log WHERE action = 'sql'") >= 1
    served = Served(restored, [])
    try:
        token = link.rsplit("/c/", 1)[1]
        request = urllib.request.Request(f"{served.url}/c/{token}")
        try:
            urllib.request.build_opener(_NoRedirect).open(request, timeout=10)
            raise AssertionError("expected the click to redirect")
        except urllib.error.HTTPError as exc:
            assert exc.code == 302  # the e-mail key came back with the backup
            assert exc.headers["Location"] == "https://shop.example/"
        tokens = json.loads((restored / "admin_tokens.json").read_text())["tokens"]
        assert [t["label"] for t in tokens] == ["bootstrap"]
    finally:
        served.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
