"""A log file is known by its content: a copy, a .gz, a grown or a rotated file give the same
origins, whether read whole or followed; other content gives others."""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from ashiato.beacon.accesslog import MAX_LINE_BYTES
from ashiato.collector.follow import FollowedFile
from ashiato.collector.ingest import IngestCounts
from ashiato.collector.ingest_cli import ingest_files
from ashiato.collector.lineid import IDENTITY_BYTES, content_identity, line_event_id, read_identity


class Taken:
    """A sink that keeps what it is sent, in order (no parsing, no store)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.origins: list[str] = []

    def send(
        self,
        lines: Sequence[bytes],
        first_line: int,
        label: str = "",
        origins: Sequence[str] | None = None,
    ) -> IngestCounts:
        assert origins is not None and len(origins) == len(lines)
        self.lines.extend(lines)
        self.origins.extend(origins)
        return IngestCounts(read=len(lines))

    def close(self) -> str:
        return ""

    def ids(self) -> list[str]:
        return [line_event_id(o, line) for o, line in zip(self.origins, self.lines, strict=True)]


def read_whole(path: Path) -> Taken:
    taken = Taken()
    ingest_files(taken, [path], progress=False)
    return taken


def follow(path: Path, state: Path) -> Taken:
    """What a new follower of `path` reads before it waits for more."""
    followed = FollowedFile(path, state)
    try:
        return drain(followed)
    finally:
        followed.close()


def drain(followed: FollowedFile) -> Taken:
    taken = Taken()
    for _ in range(3):
        for chunk in followed.poll():
            taken.lines.extend(chunk.lines)
            taken.origins.extend(chunk.origins)
            followed.commit(chunk.checkpoint)
    return taken


def write(path: Path, first: int, last: int, mode: str = "a", end: str = "\n") -> None:
    with open(path, mode) as handle:
        for n in range(first, last + 1):
            handle.write(f"192.0.2.{n % 250} - - [10/Oct/2024:13:55:36 +0000] GET /p/{n}{end}")


def test_a_copy_and_a_gz_give_the_same_event_ids_as_the_file(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, 1, 500)
    shutil.copy(log, tmp_path / "copy.log")
    with open(log, "rb") as plain, gzip.open(tmp_path / "access.log.1.gz", "wb") as packed:
        shutil.copyfileobj(plain, packed)
    original = read_whole(log)
    assert len(set(original.ids())) == 500
    assert read_whole(tmp_path / "copy.log").ids() == original.ids()
    assert read_whole(tmp_path / "access.log.1.gz").ids() == original.ids()


def test_a_grown_or_renamed_file_keeps_its_identity(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, 1, 10)
    before = read_whole(log)
    write(log, 11, 20)
    os.rename(log, tmp_path / "access.log.1")
    after = read_whole(tmp_path / "access.log.1")
    assert after.ids()[:10] == before.ids()


def test_other_content_gives_other_ids_for_the_same_line_and_offset(tmp_path: Path) -> None:
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    one.write_text("first line of one\nsame\n")
    two.write_text("first line of 2!\nsame\n")  # as long, so `same` sits at the same offset
    assert read_whole(one).origins[1].endswith(":18")
    assert read_whole(one).ids()[1] != read_whole(two).ids()[1]


def test_followed_lines_get_the_ids_of_the_same_file_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, 1, 40, end="\r\n")
    followed = follow(log, tmp_path / "state")
    assert followed.lines == read_whole(log).lines
    assert followed.ids() == read_whole(log).ids()


def test_a_follower_resuming_mid_file_still_names_the_file_by_its_first_line(
    tmp_path: Path,
) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    write(log, 1, 10)
    first = follow(log, state)
    write(log, 11, 20)
    second = follow(log, state)  # a new process: resumes at the checkpoint
    assert first.ids() + second.ids() == read_whole(log).ids()


def test_an_unfinished_first_line_waits_and_then_names_the_file(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    log.write_text("192.0.2.1 - - [10/Oct/2024:13:55:36 +0000] GET /p/1 still being wri")
    assert follow(log, state).lines == []
    with open(log, "a") as handle:
        handle.write("tten\n")
    write(log, 2, 3)
    assert follow(log, state).ids() == read_whole(log).ids()
    assert len(read_whole(log).ids()) == 3


def test_an_empty_file_gives_nothing_to_identify(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    assert read_whole(log).lines == []
    assert follow(log, tmp_path / "state").lines == []


def test_copytruncate_starts_a_new_identity(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, 1, 10)
    followed = FollowedFile(log, tmp_path / "state")
    before = drain(followed)
    shutil.copy(log, tmp_path / "access.log.1")
    with open(log, "r+") as handle:
        handle.truncate(0)
    write(log, 11, 15)  # shorter than before, as the follower notices truncation by size
    after = drain(followed)
    followed.close()
    assert after.lines == read_whole(log).lines
    assert after.ids() == read_whole(log).ids()
    assert not set(after.origins) & set(before.origins)
    assert read_whole(tmp_path / "access.log.1").ids() == before.ids()


def test_an_overlong_first_line_is_known_by_its_head(tmp_path: Path) -> None:
    head = b"x" * (MAX_LINE_BYTES + 10)
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    one.write_bytes(head + b"1\nnext\n")
    two.write_bytes(head + b"2\nnext\n")
    assert read_whole(one).origins == read_whole(two).origins
    identity = content_identity(head[:IDENTITY_BYTES])
    assert read_whole(one).origins[0] == f"{identity}:0"
    with open(one, "rb") as handle:
        assert read_identity(handle.fileno()) == identity
    assert follow(one, tmp_path / "state").origins == read_whole(one).origins


def test_the_identity_ignores_the_line_break_and_reads_only_the_first_line() -> None:
    assert (
        content_identity(b"abc\r\nrest") == content_identity(b"abc\n") == content_identity(b"abc")
    )
    assert content_identity(b"abd\n") != content_identity(b"abc\n")
