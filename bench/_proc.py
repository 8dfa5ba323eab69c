"""What a server process tree costs, read from /proc: CPU seconds, peak RSS, descriptors."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields start after the last ")".
    return text[text.rindex(")") + 2 :].split()


def tree(pid: int) -> list[int]:
    """`pid` and every process descended from it, alive right now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def workers(pid: int) -> list[int]:
    """The processes that serve: a master's children when it has any, else the process."""
    below = [p for p in tree(pid) if p != pid]
    return below or [pid]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User plus system CPU seconds of each process (all its threads)."""
    seconds = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
            seconds[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return seconds


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two `cpu_seconds` readings (processes in either)."""
    return sum(after.get(pid, 0.0) - before.get(pid, 0.0) for pid in after)


def status_kb(pid: int, field: str) -> int:
    """A `VmHWM`/`VmRSS`-style field of /proc/PID/status, in KiB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(pids: list[int]) -> float:
    """Peak resident memory (VmHWM) summed over `pids`, in MiB."""
    return sum(status_kb(pid, "VmHWM") for pid in pids) / 1024


def rss_mb(pids: list[int]) -> float:
    """Current resident memory (VmRSS) summed over `pids`, in MiB."""
    return sum(status_kb(pid, "VmRSS") for pid in pids) / 1024


def open_fds(pids: list[int]) -> int:
    """Open file descriptors summed over `pids`."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{pid}/fd"))
    return total
