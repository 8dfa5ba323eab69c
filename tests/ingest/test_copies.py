"""`ingest-log` run again over a copy or a .gz of a file it read stores nothing new, on the
embedded store directly and through a running `serve`; `--host` makes the stored URLs whole."""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

from tests.collector.test_cli import Served, run_cli

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _append(log: Path, first: int, last: int) -> None:
    with open(log, "a") as handle:
        for n in range(first, last + 1):
            handle.write(
                f'198.51.100.{n % 250} - - [10/Oct/2024:13:55:{n % 60:02} +0000] "GET /p/{n}?q '
                f'HTTP/1.1" 200 512 "-" "{UA}"\n'
            )


def _copies(log: Path) -> list[Path]:
    """A copy of `log` and a .gz of it, as logrotate would leave it."""
    copy = log.with_name("copy-of-access.log")
    shutil.copy(log, copy)
    packed = log.with_name("access.log.2.gz")
    with open(log, "rb") as plain, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(plain, out)
    return [copy, packed]


def _scalar(data_dir: Path, query: str) -> str:
    result = run_cli("sql", "--data-dir", str(data_dir), query, check=True)
    return result.stdout.split()[-1]


def _ingest(data_dir: Path, *args: str) -> str:
    result = run_cli("ingest-log", "--data-dir", str(data_dir), "--site", "s", *args, check=True)
    return result.stdout


def test_a_copy_and_a_gz_of_an_ingested_file_add_nothing(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "var", tmp_path / "access.log"
    _append(log, 1, 40)
    assert "stored: 40" in _ingest(data_dir, "--host", "https://shop.example", str(log))
    copies = _copies(log)
    assert "stored: 80" in _ingest(data_dir, "--host", "https://shop.example", *map(str, copies))
    assert _scalar(data_dir, "SELECT count() FROM events") == "40"
    assert _scalar(data_dir, "SELECT uniqExact(url) FROM events") == "40"
    assert _scalar(data_dir, "SELECT any(url) FROM events WHERE url LIKE '%/p/1?q'") == (
        "https://shop.example/p/1?q"
    )

    _append(log, 41, 50)  # the file grew: only its new lines are new
    _ingest(data_dir, "--host", "https://shop.example", str(log))
    assert _scalar(data_dir, "SELECT count() FROM events") == "50"


def test_without_a_host_the_path_is_stored_as_logged(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "var", tmp_path / "access.log"
    _append(log, 1, 1)
    _ingest(data_dir, str(log))
    assert _scalar(data_dir, "SELECT url FROM events") == "/p/1?q"


def test_a_host_that_is_no_base_url_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _append(log, 1, 1)
    result = run_cli(
        "ingest-log", "--data-dir", str(tmp_path / "var"), "--host", "https://shop/x", str(log)
    )
    assert result.returncode == 1
    assert "--host: only a scheme and a host" in result.stderr


def _wait_count(served: Served, query: str, expected: str) -> None:
    deadline = time.monotonic() + 30
    while (got := _scalar(served.data_dir, query)) != expected:
        assert time.monotonic() < deadline, f"{query}: {got}, not {expected}"
        time.sleep(0.3)


def test_copies_sent_through_a_running_server_add_nothing(tmp_path: Path) -> None:
    served = Served(tmp_path / "var", ["--batch-ms", "100"])
    try:
        log = tmp_path / "access.log"
        _append(log, 1, 40)
        _ingest(served.data_dir, "--host", "https://shop.example", str(log))
        _wait_count(served, "SELECT count() FROM events", "40")
        first = _scalar(served.data_dir, "SELECT any(url) FROM events WHERE url LIKE '%/p/1?q'")
        assert first == "https://shop.example/p/1?q"

        _ingest(served.data_dir, "--host", "https://shop.example", *map(str, _copies(log)))
        # The server inserts in spool order: once a later, different line is in, so are the
        # copies before it.
        sentinel = tmp_path / "sentinel.log"
        _append(sentinel, 1000, 1000)
        _ingest(served.data_dir, "--host", "https://shop.example", str(sentinel))
        _wait_count(served, "SELECT count() FROM events WHERE url LIKE '%/p/1000?q'", "1")
        assert _scalar(served.data_dir, "SELECT count() FROM events") == "41"
    finally:
        served.stop()
