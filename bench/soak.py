"""Soak: `ashiato serve` under a steady, moderate load; does memory level off?

    .venv/bin/python -m bench.soak [--minutes 10] [--rate 2000] [--connections 8]

Prints RSS, open descriptors, spool bytes and rows in ClickHouse every `--interval` seconds,
then compares the last third of the samples to the middle third.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as bench/soak.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _proc, machine, servers
from bench._wrk import command, parse
from tests.geo_fixtures import build_geo_databases

DATABASE = "bench_soak"
RSS_SLACK = 0.05  # the last third may sit up to 5% above the middle third
FD_SLACK = 4


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading."""

    seconds: float
    rss_mb: float
    fds: int
    spool_bytes: int
    rows: int


def _bytes_under(directory: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            # A segment may be deleted under us once it is acknowledged.
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def levelled(values: list[float], slack: float, absolute: float = 0.0) -> tuple[bool, str]:
    """Whether the last third of `values` stays within `slack` of the middle third."""
    third = len(values) // 3
    if third == 0:
        return False, "too few samples to tell"
    middle = statistics.mean(values[third : 2 * third])
    last = statistics.mean(values[2 * third :])
    growth = (last - middle) / middle if middle else 0.0
    ok = last - middle <= max(middle * slack, absolute)
    return ok, f"middle third {middle:,.1f}, last third {last:,.1f} ({growth:+.1%})"


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the samples and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=2000, help="about this many requests/s")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--interval", type=float, default=30, help="seconds between samples")
    args = parser.parse_args(argv)
    duration = args.minutes * 60
    pace_ms = max(1, round(args.connections * 1000 / args.rate))

    with tempfile.TemporaryDirectory(prefix="ashiato-soak-") as tmp:
        work = Path(tmp)
        (work / "geo").mkdir()
        geo = build_geo_databases(work / "geo")
        (work / "ashiato" / "data").mkdir(parents=True)
        with servers.clickhouse(work / "clickhouse") as clickhouse:
            print("\n".join(machine.describe(servers.clickhouse_version(clickhouse))))
            running = servers.start_ashiato(
                work / "ashiato", clickhouse_url=clickhouse.url_for(DATABASE), geo=geo
            )
            spool = work / "ashiato" / "data" / "spool"
            argv_wrk = command(
                running.base_url + "/",
                duration=duration,
                connections=args.connections,
                script_args=["pixel"],
            )
            print(
                f"\nsoak: {args.minutes:g} min of GET /b.gif, {args.connections} connections "
                f"each pausing {pace_ms} ms (at most ~{args.connections * 1000 // pace_ms:,} "
                "req/s)",
                flush=True,
            )
            print("| minute | RSS MB | open fds | spool bytes | rows in ClickHouse |")
            print("|---:|---:|---:|---:|---:|", flush=True)
            started = time.monotonic()
            load = subprocess.Popen(
                argv_wrk,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "BENCH_DELAY_MS": str(pace_ms)},
            )
            samples: list[Sample] = []
            died: int | None = None
            try:
                while load.poll() is None:
                    time.sleep(
                        min(args.interval, max(0.1, duration - (time.monotonic() - started)))
                    )
                    if load.poll() is not None:
                        break
                    if running.process.poll() is not None:
                        died = running.process.returncode
                        log = running.log.read_text(errors="replace")[-3000:]
                        print(f"\nashiato exited with {died} under load; its log ends:\n{log}")
                        load.kill()
                        break
                    pids = _proc.workers(running.pid)
                    sample = Sample(
                        time.monotonic() - started,
                        _proc.rss_mb(pids),
                        _proc.open_fds(pids),
                        _bytes_under(spool),
                        servers.count_rows(clickhouse, DATABASE),
                    )
                    samples.append(sample)
                    print(
                        f"| {sample.seconds / 60:.1f} | {sample.rss_mb:.1f} | {sample.fds} "
                        f"| {sample.spool_bytes:,} | {sample.rows:,} |",
                        flush=True,
                    )
                output = load.communicate()[0]
            finally:
                if load.poll() is None:
                    load.kill()
                running.stop()
            if died is not None:
                print(f"FAILED: ashiato died under the soak (exit status {died})")
                return 1
            result = parse(output)
            stored = servers.count_rows(clickhouse, DATABASE)

    rss_ok, rss_text = levelled([s.rss_mb for s in samples], RSS_SLACK)
    fds_ok, fds_text = levelled([float(s.fds) for s in samples], 0.0, FD_SLACK)
    print(
        f"\nwrk: {result.requests:,} requests, {result.rps:,.0f} req/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"{result.non_2xx + result.socket_errors} errors; "
        f"rows in ClickHouse after the drain: {stored:,}"
    )
    print(f"RSS {'levelled off' if rss_ok else 'still growing'}: {rss_text}")
    print(f"open fds {'levelled off' if fds_ok else 'still growing'}: {fds_text}")
    return 0 if rss_ok and fds_ok else 1


if __name__ == "__main__":
    sys.exit(main())
