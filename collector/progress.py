"""Progress on stderr for commands that may run for more than a couple of seconds.

A command that works silently for a minute looks hung. `Progress` stays quiet for the first
two seconds (most runs end before), then tells what it is doing and for how long: rewritten
in place on a terminal, a line every ten seconds otherwise (a log or a CI job).
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """`with Progress("erasing"):` shows "erasing… 5 s" on stderr until the block ends."""

    def __init__(self, what: str, *, out: TextIO | None = None, quiet_for: float = 2.0) -> None:
        self._what = what
        self._out = out or sys.stderr
        self._quiet_for = quiet_for
        self._tty = self._out.isatty()
        self._every = 1.0 if self._tty else 10.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0
        self._shown = False

    def step(self, what: str) -> None:
        """Name the step now under way."""
        self._what = what

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
        if self._shown:
            seconds = time.monotonic() - self._started
            ending = "done" if kind is None else "stopped"
            self._write(f"{self._what}: {ending} after {seconds:.0f} s", final=True)

    def _run(self) -> None:
        if self._done.wait(self._quiet_for):
            return
        while not self._done.is_set():
            seconds = time.monotonic() - self._started
            self._write(f"{self._what}… {seconds:.0f} s", final=False)
            self._shown = True
            self._done.wait(self._every)

    def _write(self, text: str, *, final: bool) -> None:
        if self._tty:
            self._out.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self._out.write(text + "\n")
        self._out.flush()
