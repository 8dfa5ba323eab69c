"""Where `ashiato serve`'s edge spends its time under the pixel load: py-spy, summarised.

    .venv/bin/pip install py-spy
    .venv/bin/python -m bench.profile [--seconds 10] [--speedscope /tmp/profile.json]

Prints the functions with the most samples of their own (self) and including callees
(inclusive), as shares of all samples of the process (event loop and writer thread).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as bench/profile.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench._wrk import command
from tests.geo_fixtures import build_geo_databases


def py_spy() -> str:
    """The py-spy executable next to this Python, or on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def summarise(collapsed: str, top: int = 20) -> str:
    """Self and inclusive shares per function from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    lines = [f"{total} samples", "", "| self | function |", "|---:|---|"]
    lines += [f"| {n / total:.1%} | `{f}` |" for f, n in own.most_common(top)]
    lines += ["", "| inclusive | function |", "|---:|---|"]
    lines += [f"| {n / total:.1%} | `{f}` |" for f, n in inclusive.most_common(top + 15)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Profile the pixel path under wrk and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="how long py-spy samples")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--speedscope", help="also write a speedscope profile here")
    args = parser.parse_args(argv)
    spy = py_spy()
    with tempfile.TemporaryDirectory(prefix="ashiato-profile-") as tmp:
        work = Path(tmp)
        (work / "geo").mkdir()
        geo = build_geo_databases(work / "geo")
        (work / "ashiato" / "data").mkdir(parents=True)
        with servers.clickhouse(work / "clickhouse") as clickhouse:
            running = servers.start_ashiato(
                work / "ashiato", clickhouse_url=clickhouse.url_for("bench_profile"), geo=geo
            )
            duration = args.seconds + 8
            load = subprocess.Popen(
                command(
                    running.base_url + "/",
                    duration=duration,
                    connections=args.connections,
                    script_args=["pixel"],
                ),
                stdout=subprocess.DEVNULL,
            )
            try:
                time.sleep(4)  # warm the caches first
                raw = work / "profile.txt"
                # The edge: the process that answers (the loader works on another core).
                edge = (servers.role_pids(running.pid, "edge") or [running.pid])[0]
                record = [spy, "record", "--pid", str(edge), "-d", str(args.seconds)]
                subprocess.run(
                    [*record, "-r", "200", "--format", "raw", "-o", str(raw)], check=True
                )
                if args.speedscope:
                    record += ["--format", "speedscope", "-o", args.speedscope]
                    subprocess.run(record, check=True)
                load.wait()
            finally:
                if load.poll() is None:
                    load.kill()
                running.stop()
            print(summarise(raw.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
