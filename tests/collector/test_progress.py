"""Progress lines: quiet for short work, elapsed time and the step for long work."""

from __future__ import annotations

import io
import time

from ashiato.collector.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_short_work_prints_nothing() -> None:
    out = io.StringIO()
    with Progress("erasing", out=out, quiet_for=1.0):
        pass
    assert out.getvalue() == ""


def test_long_work_shows_the_step_and_how_long_it_took() -> None:
    out = io.StringIO()
    with Progress("erasing", out=out, quiet_for=0.05) as progress:
        time.sleep(0.2)
        progress.step("erasing (by the running server)")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("erasing… ")
    assert lines[-1] == "erasing (by the running server): done after 0 s"


def test_on_a_terminal_the_line_is_rewritten_in_place() -> None:
    out = _Terminal()
    with Progress("counting", out=out, quiet_for=0.05):
        time.sleep(0.1)
    text = out.getvalue()
    assert text.startswith("\r\033[K" + "counting… ")
    assert text.endswith("counting: done after 0 s\n")
