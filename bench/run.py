"""The HTTP benchmark table, then the storage figures.

    .venv/bin/python -m bench.run [--duration 15] [--connections 64] [--only pixel,bare]
    .venv/bin/python -m bench.run --storage [--big]

Each server runs pinned to core 0 and wrk (one thread) to core 1; the ClickHouse server the
ashiato rows write to is kept on core 1 as well, so core 0 does only the collector's work.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ashiato.beacon.tokens import EmailToken, recipient_pseudonym, sign_token
from ashiato.collector.secrets import load_secrets
from bench import _proc, machine, servers
from bench._wrk import WrkResult, run_wrk
from tests.clickhouse_server import ClickHouseServer
from tests.geo_fixtures import build_geo_databases

WARMUP_SECONDS = 3
NAMES = ("nginx", "bare", "pixel", "beacon", "open", "embedded", "workers2")


@dataclass
class Row:
    """One line of the table."""

    server: str
    wrk: WrkResult
    cpu_seconds: float
    peak_rss_mb: float
    stored: int | None = None
    answered: int | None = None
    loader_seconds: float = 0.0  # the loader's CPU for the rows stored in the run

    @property
    def cpu_per_10k(self) -> float:
        """Serving CPU seconds per 10,000 answered requests (the edges, for ashiato)."""
        return self.cpu_seconds / max(self.wrk.requests, 1) * 10_000

    @property
    def loader_per_10k(self) -> float:
        """Loader CPU seconds per 10,000 stored rows."""
        return self.loader_seconds / max(self.stored or 0, 1) * 10_000

    @property
    def all_per_10k(self) -> float:
        """All CPU (edges and loader) per 10,000 stored hits; per answered one without a loader."""
        if not self.stored:
            return self.cpu_per_10k
        return (self.cpu_seconds + self.loader_seconds) / self.stored * 10_000


def measure(
    running: servers.Running,
    path: str,
    *,
    duration: float,
    connections: int,
    script_args: list[str] | None,
    label: str,
    count: Callable[[], int] | None = None,
) -> Row:
    """Warm the server up, then run wrk while reading the CPU time of the serving processes.

    With `count` (rows stored so far), the loader's CPU is read from the start of the run
    until every row answered in it is stored, and only those rows are counted.
    """
    url = running.base_url + path
    warm = run_wrk(url, duration=WARMUP_SECONDS, connections=connections, script_args=script_args)
    loaders = servers.role_pids(running.pid, "loader")
    base = _settled(count) if count is not None else 0
    serving = [p for p in _proc.tree(running.pid) if p not in loaders and p != running.pid]
    before = _proc.cpu_seconds(serving or [running.pid])
    loader_before = _proc.cpu_seconds(loaders)
    result = run_wrk(url, duration=duration, connections=connections, script_args=script_args)
    after = _proc.cpu_seconds(serving or [running.pid])
    row = Row(
        label,
        result,
        _proc.cpu_used(before, after),
        _proc.peak_rss_mb(_proc.workers(running.pid)),
        answered=warm.requests + result.requests,
    )
    if count is not None:
        row.stored = _settled(count) - base
        row.loader_seconds = _proc.cpu_used(loader_before, _proc.cpu_seconds(loaders))
    problems = result.non_2xx + result.socket_errors
    print(
        f"  {label}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
        f"p99 {result.p99_ms:.2f} ms, {row.cpu_per_10k:.2f} CPU s/10k, "
        f"peak RSS {row.peak_rss_mb:.0f} MB" + (f", {problems} errors/non-2xx" if problems else ""),
        flush=True,
    )
    return row


def _settled(count: Callable[[], int], quiet: float = 1.5, limit: float = 120.0) -> int:
    """Rows stored once the count stops growing for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


def write_open_tokens(data_dir: Path, path: Path, count: int = 500) -> Path:
    """Valid open tokens signed with the keys the server will load from `data_dir`."""
    keys = load_secrets(data_dir)
    expires = int(time.time()) + 30 * 86400
    lines = []
    for i in range(count):
        recipient = recipient_pseudonym(f"member{i:05d}@example.jp", keys.recipient_key)
        token = EmailToken("open", f"2026-{1 + i % 12:02d}-news", recipient, expires)
        lines.append(sign_token(token, keys.tokens))
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Rig:
    """What the ashiato rows share: the ClickHouse server, the GeoIP files, a scratch dir."""

    directory: Path
    clickhouse: ClickHouseServer
    geo: tuple[Path, Path]
    runs: int = 0

    def ashiato_row(
        self,
        label: str,
        path: str,
        script: Callable[[Path], list[str]],
        *,
        duration: float,
        connections: int,
        workers: int = 1,
        cpus: str = "0",
    ) -> Row:
        """Start `ashiato serve` on a fresh database, measure, stop it and count the rows."""
        self.runs += 1
        database = f"bench_{self.runs}"
        directory = self.directory / database
        (directory / "data").mkdir(parents=True)
        script_args = script(directory / "data")
        embedded = workers == 0
        running = servers.start_ashiato(
            directory,
            clickhouse_url="" if embedded else self.clickhouse.url_for(database),
            geo=self.geo,
            workers=max(workers, 1),
            cpus=cpus,
        )
        data = directory / "data"

        def count() -> int:
            if embedded:
                return servers.count_embedded(running.base_url, data)
            return servers.count_rows(self.clickhouse, database)

        try:
            row = measure(
                running,
                path,
                duration=duration,
                connections=connections,
                script_args=script_args,
                label=label,
                count=count,
            )
        finally:
            running.stop()  # drains the spool
        print(
            f"    rows stored in the run: {row.stored:,} (all CPU {row.all_per_10k:.2f} s/10k: "
            f"edges {row.cpu_per_10k:.2f} per 10k answered, loader {row.loader_per_10k:.2f} "
            "per 10k stored)",
            flush=True,
        )
        return row


def _pixel(data_dir: Path) -> list[str]:
    return ["pixel"]


def _beacon(data_dir: Path) -> list[str]:
    return ["beacon"]


def _open(data_dir: Path) -> list[str]:
    return ["open", str(write_open_tokens(data_dir, data_dir.parent / "tokens.txt"))]


def http_rows(args: argparse.Namespace, work: Path, clickhouse: ClickHouseServer) -> list[Row]:
    """Measure every selected server in turn."""
    wanted = set(args.only.split(",")) if args.only else set(NAMES)
    geo_dir = work / "geo"
    geo_dir.mkdir()
    rig = Rig(work, clickhouse, build_geo_databases(geo_dir))
    common = {"duration": args.duration, "connections": args.connections}
    rows = []
    if "nginx" in wanted:
        running = servers.start_nginx(work / "nginx")
        try:
            rows.append(measure(running, "/b.gif", script_args=None, label="nginx", **common))
        finally:
            running.stop()
    if "bare" in wanted:
        running = servers.start_bare(work)
        try:
            rows.append(
                measure(running, "/b.gif", script_args=None, label="bare aiohttp", **common)
            )
        finally:
            running.stop()
    plan = [
        ("pixel", "ashiato GET /b.gif", "/", _pixel, 1, "0"),
        ("beacon", "ashiato POST /b", "/", _beacon, 1, "0"),
        ("open", "ashiato GET /o/{token}.gif", "/", _open, 1, "0"),
        # Workers 0 here: the embedded store of `make run` (chdb in the loader), one edge.
        ("embedded", "ashiato GET /b.gif, embedded store", "/", _pixel, 0, "0"),
        ("workers2", "ashiato GET /b.gif --workers 2 *", "/", _pixel, 2, "0,1"),
    ]
    for name, label, path, script, workers, cpus in plan:
        if name in wanted:
            rows.append(rig.ashiato_row(label, path, script, workers=workers, cpus=cpus, **common))
    return rows


def table(rows: list[Row], connections: int) -> str:
    """The markdown table, ratios against the bare aiohttp row of the same run."""
    bare = next((r for r in rows if r.server == "bare aiohttp"), None)
    lines = [
        f"| server ({connections} connections) | req/s | p50 ms | p99 ms | vs bare req/s "
        "| p99 vs bare | serving CPU s / 10k | loader CPU s / 10k stored "
        "| all CPU per stored hit vs bare | peak RSS MB | rows stored / answered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = p99 = cpu = "—"
        if bare is not None:
            ratio = f"{row.wrk.rps / bare.wrk.rps:.0%}"
            p99 = f"{row.wrk.p99_ms / bare.wrk.p99_ms:.1f}x"
            cpu = f"{row.all_per_10k / bare.cpu_per_10k:.1f}x"
        stored = f"{row.stored:,} / {row.wrk.requests:,}" if row.stored is not None else ""
        loader = f"{row.loader_per_10k:.2f}" if row.stored else ""
        lines.append(
            f"| {row.server} | {row.wrk.rps:,.0f} | {row.wrk.p50_ms:.2f} | {row.wrk.p99_ms:.2f} "
            f"| {ratio} | {p99} | {row.cpu_per_10k:.2f} | {loader} | {cpu} "
            f"| {row.peak_rss_mb:.0f} | {stored} |"
        )
    if any(r.server.endswith("*") for r in rows):
        lines.append(
            "\n\\* both cores serve, and wrk, the loader and ClickHouse share core 1 with the "
            "second edge: this shows scaling, not a clean two-core figure."
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--only", help=f"comma-separated rows to run, of: {', '.join(NAMES)}")
    parser.add_argument("--storage", action="store_true", help="only the storage figures")
    parser.add_argument("--no-storage", action="store_true", help="only the HTTP table")
    parser.add_argument("--big", action="store_true", help="also 10M-row tables (slow)")
    args = parser.parse_args(argv)
    if args.only and not set(args.only.split(",")) <= set(NAMES):
        parser.error(f"--only takes names from: {', '.join(NAMES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the tables."""
    from bench import storage

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ashiato-bench-") as tmp:
        work = Path(tmp)
        with servers.clickhouse(work / "clickhouse") as clickhouse:
            print("\n".join(machine.describe(servers.clickhouse_version(clickhouse))), flush=True)
            output = []
            if not args.storage:
                print(f"\nHTTP: wrk -t1 -c{args.connections} -d{args.duration:g}s", flush=True)
                rows = http_rows(args, work, clickhouse)
                output.append(table(rows, args.connections))
                print("\n" + output[-1], flush=True)
            if not args.no_storage:
                print("\nstorage:", flush=True)
                output.append(storage.run(work / "storage", clickhouse, big=args.big))
    print("\n" + "\n\n".join(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
