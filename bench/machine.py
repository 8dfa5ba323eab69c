"""A one-paragraph description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(clickhouse_version: str = "") -> list[str]:
    """Lines naming the cores, CPU, memory, kernel and the versions that matter."""
    lines = [
        f"cores: {os.cpu_count()} ({_cpu_model()}), memory {_memory_gb():.1f} GiB, "
        f"kernel {platform.release()}",
        f"Python {platform.python_version()}, aiohttp {_version('aiohttp')}, "
        f"uvloop {_version('uvloop')}, clickhouse-driver {_version('clickhouse-driver')}, "
        f"chdb {_version('chdb')}",
    ]
    if clickhouse_version:
        lines.append(f"ClickHouse server {clickhouse_version}")
    return lines
