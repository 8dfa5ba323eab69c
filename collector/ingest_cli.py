"""`ashiato ingest-log`: files (also .gz) and followed files into the store.

With a ClickHouse server, or an embedded store no server holds, lines are turned into events
here and written by a batch writer. While `serve` holds the embedded store, lines go to its
admin API (`/admin/ingest`) in chunks, and the same code turns them into events there. Either
way a full spool slows reading down instead of dropping lines.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Protocol, cast

from tqdm import tqdm

from ashiato.beacon.accesslog import MAX_LINE_BYTES, LogFormatError, LogParser
from ashiato.beacon.event import COLUMNS
from ashiato.collector.adminclient import CommandError, admin_token, server_url
from ashiato.collector.app import build_enricher, prepare_storage
from ashiato.collector.config import Config, store_for
from ashiato.collector.follow import FollowedFile
from ashiato.collector.ingest import IngestCounts, LogIngestor
from ashiato.collector.secrets import load_secrets
from ashiato.storage.backend import Store
from ashiato.storage.errors import StoreInUse
from ashiato.storage.schema import EVENTS_TABLE
from ashiato.storage.writer import BatchWriter

CHUNK_LINES = 5000
# A chunk sent to a running server stays far below its request limit (16 MiB), even when
# every byte needs a JSON escape.
CHUNK_BYTES = 1 << 20


class Sink(Protocol):
    """Where chunks of lines go; `send` returns only once they are safely accepted."""

    def send(
        self,
        lines: Sequence[bytes],
        first_line: int,
        label: str = "",
        origins: Sequence[str] | None = None,
    ) -> IngestCounts:
        """Parse and store `lines`; block while the store cannot take more."""
        ...

    def close(self) -> None:
        """Flush and release."""
        ...


class LocalSink:
    """Parse here and write through a batch writer of this process."""

    def __init__(self, config: Config, store: Store, log_format: str, site: str) -> None:
        prepare_storage(store)
        keys = load_secrets(config.data_dir)
        self._store = store
        self._ingestor = LogIngestor(
            build_enricher(config, keys.visitor_key),
            log_format,
            site=site,
            exclude=config.collection.log_exclude,
        )
        self._writer = BatchWriter(
            store,
            EVENTS_TABLE,
            COLUMNS,
            max_rows=config.storage.batch_rows,
            max_delay=config.storage.batch_ms / 1000,
            max_queue=config.storage.queue_rows,
        )
        self._writer.start()

    def send(
        self,
        lines: Sequence[bytes],
        first_line: int,
        label: str = "",
        origins: Sequence[str] | None = None,
    ) -> IngestCounts:
        """Parse, then hand rows to the writer, waiting while it is full."""
        rows, counts = self._ingestor.rows(lines, first_line, label, origins)
        while rows and not self._writer.submit(rows):
            time.sleep(0.2)
        return counts

    def close(self) -> None:
        """Insert what is queued, then release the store."""
        self._writer.stop(timeout=300)
        self._store.close()


class ApiSink:
    """Send lines to the running server that holds the embedded store."""

    def __init__(self, url: str, token: str, log_format: str, site: str) -> None:
        self._url = f"{url}/admin/ingest?" + urllib.parse.urlencode(
            {"format": log_format, "site": site}
        )
        self._token = token

    def send(
        self,
        lines: Sequence[bytes],
        first_line: int,
        label: str = "",
        origins: Sequence[str] | None = None,
    ) -> IngestCounts:
        """POST a chunk; retry while the server answers 503 (its spool is full)."""
        body = json.dumps(
            {
                "lines": [line.decode("utf-8", "surrogateescape") for line in lines],
                "origins": list(origins) if origins is not None else None,
            },
            ensure_ascii=True,
        ).encode()
        while True:
            request = urllib.request.Request(  # noqa: S310 - our own server
                f"{self._url}&first_line={first_line}&" + urllib.parse.urlencode({"label": label}),
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "text/plain; charset=utf-8",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                    doc = json.loads(response.read())
                    break
            except urllib.error.HTTPError as exc:
                if exc.code == 503:
                    time.sleep(float(exc.headers.get("Retry-After", "1")))
                    continue
                detail = exc.read()[:200].decode("utf-8", "replace")
                raise CommandError(f"server refused the lines ({exc.code}): {detail}") from None
            except urllib.error.URLError as exc:
                raise CommandError(f"cannot reach the server: {exc.reason}") from None
        counts = IngestCounts(read=doc["read"], stored=doc["stored"])
        counts.skipped.update(doc["skipped"])
        counts.rejected.update(doc["rejected"])
        counts.rejected_lines.extend(doc["rejected_lines"])
        return counts

    def close(self) -> None:
        """Nothing held."""


def open_lines(path: Path) -> IO[bytes]:
    """A file's bytes, decompressed when it is gzip; a clear error when it cannot be read."""
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
        if magic == b"\x1f\x8b":
            return cast(IO[bytes], gzip.open(path, "rb"))
        return open(path, "rb")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a directory") from None
    except PermissionError:
        raise CommandError(f"{path}: permission denied") from None


def bounded_lines(handle: IO[bytes], max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, int]]:
    """Each line with its length in the file; a line over `max_line` is cut to `max_line + 1`.

    The parser refuses the cut line as too long, under its own number, while neither this
    process nor a chunk ever holds more than `max_line` bytes of it.
    """
    while line := handle.readline(max_line + 1):
        size = len(line)
        if len(line) > max_line and not line.endswith(b"\n"):
            while rest := handle.readline(1 << 16):
                size += len(rest)
                if rest.endswith(b"\n"):
                    break
        yield line.rstrip(b"\r\n"), size


def _chunks(handle: IO[bytes], identity: str) -> Iterator[tuple[list[bytes], list[str]]]:
    """Lines in chunks of bounded count and bytes, each line with its origin (file, offset)."""
    chunk: list[bytes] = []
    origins: list[str] = []
    offset = 0
    chunk_bytes = 0
    for line, size in bounded_lines(handle):
        chunk.append(line)
        origins.append(f"{identity}:{offset}")
        offset += size
        chunk_bytes += len(line)
        if len(chunk) >= CHUNK_LINES or chunk_bytes >= CHUNK_BYTES:
            yield chunk, origins
            chunk, origins, chunk_bytes = [], [], 0
    if chunk:
        yield chunk, origins


def ingest_files(sink: Sink, paths: Sequence[Path], progress: bool) -> IngestCounts:
    """Read every file to its end through `sink`, showing lines/s on a terminal."""
    total = IngestCounts()
    with ExitStack() as stack:
        handles = [(path, stack.enter_context(open_lines(path))) for path in paths]
        bar = stack.enter_context(
            tqdm(unit=" lines", unit_scale=True, disable=not progress, file=sys.stderr)
        )
        for path, handle in handles:
            bar.set_description(path.name)
            line = 1
            st = path.stat()
            try:
                for chunk, origins in _chunks(handle, f"{st.st_dev}:{st.st_ino}"):
                    counts = sink.send(chunk, line, path.name, origins)
                    line += len(chunk)
                    total.add(counts)
                    bar.update(len(chunk))
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise CommandError(f"{path}: cannot be read to its end: {exc}") from None
    return total


def follow_files(
    sink: Sink, paths: Sequence[Path], state_dir: Path, poll: float = 0.5
) -> IngestCounts:
    """Follow files until interrupted (Ctrl-C or SIGTERM), committing checkpoints only after
    lines are accepted; the counts of the whole run."""
    followed = [FollowedFile(path, state_dir) for path in paths]
    total = IngestCounts()
    try:
        while True:
            for item in followed:
                for chunk in item.poll():
                    if chunk.lines:
                        total.add(sink.send(chunk.lines, 0, chunk.path.name, chunk.origins))
                    item.commit(chunk.checkpoint)
            time.sleep(poll)
    except KeyboardInterrupt:
        return total
    finally:
        for item in followed:
            item.close()


def summary(counts: IngestCounts) -> str:
    """The end-of-run report."""
    lines = [f"lines read: {counts.read}", f"stored: {counts.stored}"]
    for reason, n in sorted(counts.skipped.items()):
        lines.append(f"skipped ({reason}): {n}")
    for reason, n in sorted(counts.rejected.items()):
        lines.append(f"rejected ({reason}): {n}")
    if counts.rejected_lines:
        shown = ", ".join(str(n) for n in counts.rejected_lines[:20])
        more = " …" if len(counts.rejected_lines) > 20 else ""
        lines.append(f"rejected line numbers: {shown}{more}")
    return "\n".join(lines)


def make_sink(config: Config, env: Mapping[str, str], args: argparse.Namespace) -> Sink:
    """A local sink, or the running server's API when it holds the embedded store."""
    try:
        LogParser(args.format)
    except LogFormatError as exc:
        raise CommandError(f"--format: {exc}") from None
    try:
        store = store_for(config)
    except StoreInUse:
        return ApiSink(server_url(config), admin_token(config, env), args.format, args.site or "")
    return LocalSink(config, store, args.format, args.site or "")
