"""Access-log ingestion: lines per second end to end, next to the bare parse rate.

    .venv/bin/python -m bench.ingest [--lines 200000]

End to end is what `ashiato ingest-log` does per line: parse, enrich (user agent, referrer,
geo, consent rules), spool, and insert into a real ClickHouse server; the clock stops when the
last row is in ClickHouse. The target is 50,000 lines/s on one core.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ashiato.beacon.accesslog import LogParser
from ashiato.beacon.raw import RAW_LAYOUT
from ashiato.collector.app import build_enricher, prepare_storage
from ashiato.collector.config import load_config
from ashiato.collector.ingest import LogIngestor
from ashiato.collector.shaping import RawShaper
from ashiato.storage.native import NativeStore
from ashiato.storage.schema import EVENTS_TABLE
from ashiato.storage.spool import Spool
from ashiato.storage.writer import BatchWriter, NullObserver
from tests.clickhouse_server import start_server

_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
_REFERRERS = (
    "-",
    "https://www.google.co.jp/",
    "https://search.yahoo.co.jp/search?p=%E6%9D%B1%E4%BA%AC&ei=UTF-8",
    "https://t.co/Ab12Cd34Ef",
    "https://shop.example/cart",
)
_PATHS = ("/", "/products/{n}", "/search?q=tea&page={n}", "/blog/{n}", "/static/app.{n}.css")


def sample_lines(count: int, seed: int = 3) -> list[bytes]:
    """`count` combined-format lines with a realistic mix of clients, referrers and paths."""
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        ip = f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        path = rng.choice(_PATHS).format(n=rng.randrange(500))
        lines.append(
            f'{ip} - - [22/Nov/2026:01:{(i // 60) % 60:02d}:{i % 60:02d} +0900] "GET {path} '
            f'HTTP/1.1" 200 {rng.randrange(200, 90000)} "{rng.choice(_REFERRERS)}" '
            f'"{rng.choice(_AGENTS)}"'.encode()
        )
    return lines


def _goaccess(lines: list[bytes]) -> float | None:
    """Lines per second Debian's GoAccess analyses the same lines at; None if not installed."""
    binary = shutil.which("goaccess")
    if binary is None:
        print("goaccess is not installed (apt-get install goaccess, or make bench-deps)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.log"
        log.write_bytes(b"\n".join(lines) + b"\n")
        started = time.perf_counter()
        subprocess.run(
            [binary, str(log), "--log-format=COMBINED", "--no-progress", "-o", f"{tmp}/r.json"],
            check=True,
            capture_output=True,
        )
        return len(lines) / (time.perf_counter() - started)


def main() -> None:
    """Print the bare parse rate and the end-to-end rate, side by side."""
    # The start-up probe's refused connections are expected; keep them out of the figures.
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    lines = sample_lines(args.lines)

    goaccess_rate = _goaccess(lines)

    log_parser = LogParser("combined")
    started = time.perf_counter()
    for line in lines:
        log_parser.parse(line)
    parse_rate = len(lines) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "clickhouse")
        try:
            config = load_config({"data_dir": str(Path(tmp) / "var")}, env={})
            store = NativeStore(server.url_for("ingest"))
            prepare_storage(store)
            ingestor = LogIngestor("combined", exclude=config.collection.log_exclude)
            spool = Spool(Path(tmp) / "spool", columns=RAW_LAYOUT)
            shaper = RawShaper(build_enricher(config, b"k" * 32), NullObserver())
            writer = BatchWriter(store, EVENTS_TABLE, spool, max_rows=20_000, shaper=shaper)
            writer.start()
            started = time.perf_counter()
            stored = 0
            for first in range(0, len(lines), 5000):
                records, counts = ingestor.records(lines[first : first + 5000], first + 1)
                stored += counts.stored
                while records and not writer.submit_records(records):
                    time.sleep(0.05)
            writer.flush(600)
            end_to_end = len(lines) / (time.perf_counter() - started)
            writer.stop()
            spool.close()
            backend = store.connect()
            in_clickhouse = backend.query("SELECT count() FROM events").scalar()
            backend.close()
        finally:
            server.stop()

    print("| access-log ingestion (combined format) | lines/s | vs bare parse |")
    print("|---|---:|---:|")
    print(f"| bare parse (`LogParser.parse`) | {parse_rate:,.0f} | 100% |")
    if goaccess_rate is not None:
        print(
            f"| GoAccess, full analysis of the same file | {goaccess_rate:,.0f} | "
            f"{100 * goaccess_rate / parse_rate:.0f}% |"
        )
    print(
        f"| end to end: parse, enrich, spool, ClickHouse | {end_to_end:,.0f} | "
        f"{100 * end_to_end / parse_rate:.0f}% |"
    )
    print(
        f"\n{len(lines):,} lines, {stored:,} stored (static assets excluded), "
        f"{in_clickhouse:,} rows in ClickHouse; target: 50,000 lines/s end to end"
    )


if __name__ == "__main__":
    main()
