"""Running wrk pinned to a core and reading its summary."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
MIX_LUA = BENCH_DIR / "mix.lua"

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    output: str


def wrk_binary() -> str:
    """wrk, or an explanation of how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (or make bench)")
    return path


def parse(output: str) -> WrkResult:
    """Read requests, requests/s, p50/p99 and errors from wrk's `--latency` summary."""
    percentiles = {p: float(v) * _UNITS[u] for p, v, u in _PERCENTILE.findall(output)}
    total, rps = _TOTAL.search(output), _RPS.search(output)
    if total is None or rps is None or "50" not in percentiles or "99" not in percentiles:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    non_2xx = _NON2XX.search(output)
    socket = _SOCKET.search(output)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNITS[total.group(3)] / 1000,
        rps=float(rps.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        output=output,
    )


def command(
    url: str,
    *,
    duration: float,
    connections: int,
    script_args: list[str] | None = None,
    cpus: str = "1",
    timeout_s: int = 5,
) -> list[str]:
    """The wrk command line: one thread on `cpus`, our Lua mix when `script_args` are given."""
    argv = ["taskset", "-c", cpus, wrk_binary(), "-t1", f"-c{connections}"]
    argv += [f"-d{max(1, round(duration))}s", f"--timeout={timeout_s}s", "--latency"]
    if script_args is not None:
        argv += ["-s", str(MIX_LUA), url, "--", *script_args]
    else:
        argv.append(url)
    return argv


def run_wrk(
    url: str,
    *,
    duration: float,
    connections: int,
    script_args: list[str] | None = None,
    cpus: str = "1",
) -> WrkResult:
    """Run wrk to completion and parse its summary."""
    argv = command(
        url,
        duration=duration,
        connections=connections,
        script_args=script_args,
        cpus=cpus,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)
