"""What a newcomer sees at the edges of a run: closing lines, warnings and exit statuses."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.collector.test_cli import ASHIATO, Served, run_cli

LINE = '203.0.113.7 - - [10/Oct/2026:13:55:36 +0000] "GET /a HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'


def test_serve_ends_with_what_it_stored_and_migrate_says_why_it_has_nothing_to_do(
    tmp_path: Path,
) -> None:
    served = Served(tmp_path / "var", [])
    try:
        for _ in range(3):
            urllib.request.urlopen(served.url + "/b.gif?s=closing", timeout=5).read()
        migrate = run_cli("migrate", "--data-dir", str(served.data_dir), check=True)
        assert "nothing to do" in migrate.stdout and "running ashiato server" in migrate.stdout
    finally:
        out = served.stop()
    [closing] = [line for line in out.splitlines() if "stopped:" in line]
    assert "3 rows stored since start" in closing
    assert "the spool is empty" in closing


def test_ingest_log_warns_without_a_site_and_fails_when_nothing_is_stored(
    tmp_path: Path,
) -> None:
    data = str(tmp_path / "var")
    garbage = tmp_path / "garbage.log"
    garbage.write_text("not a log line\nnor this\n")
    failed = run_cli("ingest-log", "--data-dir", data, str(garbage))
    assert failed.returncode == 1
    assert "warning: no --site given" in failed.stderr
    assert "no line was stored" in failed.stderr
    assert "rejected (unparseable): 2" in failed.stdout

    good = tmp_path / "good.log"
    good.write_text(LINE)
    stored = run_cli("ingest-log", "--data-dir", data, "--site", "s", str(good), check=True)
    assert "stored: 1" in stored.stdout
    assert "warning" not in stored.stderr


def test_following_ends_on_sigterm_with_a_summary(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(LINE * 2)
    process = subprocess.Popen(
        [
            *ASHIATO,
            "ingest-log",
            "--follow",
            "--site",
            "s",
            "--data-dir",
            str(tmp_path / "var"),
            str(log),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    started = []
    for line in process.stderr:  # wait until it follows, however slow the machine is
        started.append(line)
        if line.startswith("following"):
            break
    time.sleep(2)  # a few polls of the file (every 0.5 s)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(started) + err
    assert "stopped following" in err
    assert "lines read: 2" in out and "stored: 2" in out
