"""`ashiato ingest-log`: files (also .gz) and followed files into the store.

With a ClickHouse server, or an embedded store no server holds, lines are turned into events
here, appended to this run's own spool (`DATA_DIR/spool/ingest-N/`) and inserted from it by a
batch writer, as `serve` does with hits. A chunk counts as taken, and a followed file's
checkpoint moves past it, only once its rows are in the spool; rows a run leaves there are
inserted by the next run. While `serve` holds the embedded store, lines go to its admin API
(`/admin/ingest`) in chunks, and the same code turns them into events there. Either way a full
spool slows reading down instead of dropping lines.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

from tqdm import tqdm

from ashiato.beacon.accesslog import MAX_LINE_BYTES, LogFormatError, LogParser
from ashiato.beacon.logurl import BaseUrlError, parse_base_url
from ashiato.collector.adminclient import CommandError, admin_token, server_url
from ashiato.collector.app import build_enricher, event_writer, open_spool, prepare_storage
from ashiato.collector.config import Config, store_for
from ashiato.collector.follow import FollowedFile
from ashiato.collector.ingest import IngestCounts, LogIngestor
from ashiato.collector.lineid import content_identity, line_origin
from ashiato.collector.secrets import load_secrets
from ashiato.collector.shaping import RawShaper
from ashiato.storage.backend import Store
from ashiato.storage.errors import StoreInUse
from ashiato.storage.spool import Spool, SpoolFull, SpoolInUse
from ashiato.storage.writer import NullObserver

CHUNK_LINES = 5000
INGEST_SPOOLS = 64  # runs of ingest-log at the same time, each with its own spool
# Reading whole files: how long the end of a run waits for the spool to empty into ClickHouse.
FILES_DRAIN_SECONDS = 300.0
# A chunk sent to a running server stays far below its request limit (16 MiB), even when
# every byte needs a JSON escape.
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class LineSettings:
    """How this run reads its lines: `--format`, `--site` and `--host` as given ("" if not)."""

    log_format: str
    site: str
    base_url: str


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

    def close(self) -> str:
        """Flush and release; say what is left for a later run, if anything."""
        ...


def open_ingest_spool(config: Config) -> Spool:
    """This run's spool: the first `ingest-N` under the spool directory no other run holds.

    Whatever an earlier run left in it is inserted first.
    """
    root = config.data_dir / "spool"
    for n in range(INGEST_SPOOLS):
        try:
            return open_spool(config, root / f"ingest-{n}")
        except SpoolInUse:
            continue
    raise CommandError(f"{INGEST_SPOOLS} ingest-log runs already hold the spools under {root}")


class LocalSink:
    """Parse here, spool, and insert through this process's spooled writer (as `serve` does)."""

    def __init__(
        self, config: Config, store: Store, lines: LineSettings, drain_seconds: float
    ) -> None:
        prepare_storage(store)
        keys = load_secrets(config.data_dir)
        self._store = store
        self._ingestor = LogIngestor(
            lines.log_format,
            site=lines.site,
            base_url=lines.base_url,
            exclude=config.collection.log_exclude,
        )
        self._spool = open_ingest_spool(config)
        # Log lines carry no visitor or recipient id, so no suppression can apply to them.
        shaper = RawShaper(build_enricher(config, keys.visitor_key), NullObserver())
        self._writer = event_writer(config, store, self._spool, shaper)
        self._writer.start()
        # A followed file's checkpoint is durable once written; the rows before it must be too,
        # unless the operator chose never to force the spool to disk.
        self._sync = config.storage.fsync != "never"
        self._drain_seconds = drain_seconds

    def send(
        self,
        lines: Sequence[bytes],
        first_line: int,
        label: str = "",
        origins: Sequence[str] | None = None,
    ) -> IngestCounts:
        """Parse and spool; return once the rows are in the spool, waiting while it is full."""
        records, counts = self._ingestor.records(lines, first_line, label, origins)
        while records:
            try:
                self._writer.append_records(records)
                break
            except SpoolFull:
                time.sleep(0.2)
        if records and self._sync:
            self._writer.sync()
        return counts

    def close(self) -> str:
        """Insert what is spooled within the drain time; the rest waits for the next run."""
        try:
            left = self._writer.stop(timeout=self._drain_seconds)
        finally:
            self._spool.close()
            self._store.close()
        if not left:
            return ""
        return (
            f"{left} rows wait in {self._spool.directory} (ClickHouse did not take them in "
            f"time); the next ingest-log inserts them"
        )


class ApiSink:
    """Send lines to the running server that holds the embedded store."""

    def __init__(self, url: str, token: str, lines: LineSettings) -> None:
        self._url = f"{url}/admin/ingest?" + urllib.parse.urlencode(
            {"format": lines.log_format, "site": lines.site, "host": lines.base_url}
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

    def close(self) -> str:
        """Nothing held: the server's spool has the lines."""
        return ""


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


def _chunks(handle: IO[bytes]) -> Iterator[tuple[list[bytes], list[str]]]:
    """Lines in chunks of bounded count and bytes, each line with its origin (content, offset).

    The file's identity is its first line's (`lineid`), so a copy or a .gz of a file gives the
    same origins as the file itself.
    """
    chunk: list[bytes] = []
    origins: list[str] = []
    identity = ""
    offset = 0
    chunk_bytes = 0
    for line, size in bounded_lines(handle):
        identity = identity or content_identity(line)
        chunk.append(line)
        origins.append(line_origin(identity, offset))
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
            try:
                for chunk, origins in _chunks(handle):
                    counts = sink.send(chunk, line, path.name, origins)
                    line += len(chunk)
                    total.add(counts)
                    bar.update(len(chunk))
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise CommandError(f"{path}: cannot be read to its end: {exc}") from None
    return total


def follow_files(
    sink: Sink,
    paths: Sequence[Path],
    state_dir: Path,
    poll: float = 0.5,
    stop: threading.Event | None = None,
) -> IngestCounts:
    """Follow files until interrupted (Ctrl-C or SIGTERM), committing checkpoints only after
    lines are accepted; the counts of the whole run."""
    followed: list[FollowedFile] = []
    total = IngestCounts()
    try:
        # Inside the try: a stop while the files are being opened is an orderly stop too.
        followed.extend(FollowedFile(path, state_dir) for path in paths)
        stop = stop or threading.Event()
        while not stop.is_set():
            for item in followed:
                for chunk in item.poll():
                    if chunk.lines:
                        total.add(sink.send(chunk.lines, 0, chunk.path.name, chunk.origins))
                    item.commit(chunk.checkpoint)
            stop.wait(poll)
        return total
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
    lines = LineSettings(args.format, args.site or "", args.host or "")
    try:
        LogParser(lines.log_format)
    except LogFormatError as exc:
        raise CommandError(f"--format: {exc}") from None
    try:
        parse_base_url(lines.base_url)
    except BaseUrlError as exc:
        raise CommandError(f"--host: {exc}") from None
    try:
        store = store_for(config)
    except StoreInUse:
        return ApiSink(server_url(config), admin_token(config, env), lines)
    drain = config.storage.drain_seconds if args.follow else FILES_DRAIN_SECONDS
    try:
        return LocalSink(config, store, lines, drain)
    except BaseException:
        store.close()
        raise
