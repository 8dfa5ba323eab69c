"""Following files like tail -F: rotation by rename and by copytruncate, restarts, checkpoints."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ashiato.collector import follow

_opened: list[follow.FollowedFile] = []


def FollowedFile(path: Path, state: Path) -> follow.FollowedFile:
    """A follower that the fixture below closes after the test."""
    followed = follow.FollowedFile(path, state)
    _opened.append(followed)
    return followed


@pytest.fixture(autouse=True)
def _close_followers() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


class Collected:
    """Lines taken from a follower, committing each checkpoint as a real sink would."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.origins: list[str] = []

    def drain(self, followed: follow.FollowedFile, commit: bool = True) -> None:
        for chunk in followed.poll():
            self.lines.extend(line.decode() for line in chunk.lines)
            self.origins.extend(chunk.origins)
            if commit:
                followed.commit(chunk.checkpoint)


def _write(path: Path, first: int, last: int) -> None:
    with open(path, "a") as handle:
        for n in range(first, last + 1):
            handle.write(f"line {n}\n")


def _expected(first: int, last: int) -> list[str]:
    return [f"line {n}" for n in range(first, last + 1)]


def test_new_lines_are_read_once_and_a_partial_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _write(log, 1, 10)
    with open(log, "a") as handle:
        handle.write("line 11 is still being wri")
    followed, got = FollowedFile(log, tmp_path / "state"), Collected()
    got.drain(followed)
    assert got.lines == _expected(1, 10)
    with open(log, "a") as handle:
        handle.write("tten\n")
    got.drain(followed)
    got.drain(followed)
    assert got.lines == [*_expected(1, 10), "line 11 is still being written"]
    assert len(set(got.origins)) == 11


def test_rotation_by_rename_loses_and_repeats_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    followed, got = FollowedFile(log, tmp_path / "state"), Collected()
    _write(log, 1, 50)
    got.drain(followed)
    _write(log, 51, 60)
    os.rename(log, tmp_path / "access.log.1")
    _write(tmp_path / "access.log.1", 61, 70)  # the server still writes to its open file
    _write(log, 71, 100)  # until it reopens the new one
    got.drain(followed)
    got.drain(followed)
    assert got.lines == _expected(1, 100)


def test_rotation_by_copytruncate_loses_and_repeats_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    followed, got = FollowedFile(log, tmp_path / "state"), Collected()
    _write(log, 1, 50)
    got.drain(followed)
    shutil.copy(log, tmp_path / "access.log.1")
    with open(log, "r+") as handle:
        handle.truncate(0)
    _write(log, 51, 80)
    got.drain(followed)
    assert got.lines == _expected(1, 80)


def test_a_restart_resumes_at_the_committed_checkpoint(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    first, got = FollowedFile(log, state), Collected()
    _write(log, 1, 30)
    got.drain(first)
    _write(log, 31, 40)
    first.close()  # stopped: lines 31-40 were never read
    got.drain(FollowedFile(log, state))
    assert got.lines == _expected(1, 40)


def test_lines_read_but_not_committed_come_again_with_the_same_origins(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    first, got = FollowedFile(log, state), Collected()
    _write(log, 1, 10)
    got.drain(first)
    _write(log, 11, 20)
    lost = Collected()
    lost.drain(first, commit=False)  # spooled, then a crash before the checkpoint
    first.close()
    again = Collected()
    again.drain(FollowedFile(log, state))
    assert again.lines == lost.lines == _expected(11, 20)
    assert again.origins == lost.origins  # so their event ids match and storage keeps one


def test_a_rotation_while_stopped_finishes_the_renamed_file_first(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    first, got = FollowedFile(log, state), Collected()
    _write(log, 1, 50)
    got.drain(first)
    first.close()
    _write(log, 51, 60)
    os.rename(log, tmp_path / "access.log.1")
    _write(log, 61, 80)
    got.drain(FollowedFile(log, state))
    assert got.lines == _expected(1, 80)
