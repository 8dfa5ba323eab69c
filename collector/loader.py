"""The loader's writers: one per spool it loads, and one for the lines it ingests itself.

The loader adopts every spool directory under `DATA_DIR/spool` that no other process reads
(the edges' `worker-N`, and `ingest-N` left by `ingest-log` runs), and inserts each from a
writer thread of its own; its own spool (`loader-N`) takes the log lines that reach it (the
admin API's ingest, syslog). A directory is adopted by taking its read lock, so with several
loaders each spool is loaded by exactly one of them, and a loader that dies leaves its
spools to the next one that looks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ashiato.storage.handoff import LoaderSpool
from ashiato.storage.spool import Spool, SpoolError, SpoolFull, SpoolInUse
from ashiato.storage.writer import BatchWriter, WriterObserver

log = logging.getLogger(__name__)


class WriterGroup:
    """The writers of one process, flushed, counted and stopped together."""

    def __init__(self, own: BatchWriter, own_spool: Spool) -> None:
        self.own = own
        self.spools: list[Spool] = [own_spool]
        self._adopted: dict[Path, BatchWriter] = {}
        self.started = False  # writers insert only once the schema is in place

    @property
    def depth(self) -> int:
        """Rows spooled and not yet inserted, in every spool this process loads."""
        return sum(spool.unacked for spool in self.spools)

    def submit_records(self, records: Sequence[bytes]) -> bool:
        """Spool raw records in this process's own spool (see `BatchWriter.submit_records`)."""
        return self.own.submit_records(records)

    def sync(self) -> None:
        """Force this process's own spool to disk."""
        self.own.sync()

    def adopt(self, directory: Path, make: Callable[[LoaderSpool], BatchWriter]) -> bool:
        """Start loading `directory` unless another process reads it; True if adopted."""
        if directory in self._adopted:
            return False
        try:
            spool = LoaderSpool(directory)
        except SpoolInUse:
            return False
        except SpoolError as exc:
            log.error("cannot load the spool %s: %s", directory, exc)
            return False
        writer = make(spool)
        if self.started:
            writer.start()
        self._adopted[directory] = writer
        self.spools.append(spool)
        return True

    def start(self) -> None:
        """Start inserting: the schema is in place."""
        self.started = True
        for writer in (self.own, *self._adopted.values()):
            writer.start()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row spooled so far, here or by an edge, is inserted."""
        deadline = time.monotonic() + timeout
        for writer in (self.own, *self._adopted.values()):
            if not writer.flush(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def stop(self, timeout: float) -> int:
        """Stop every writer, inserting what waits within `timeout`; returns the rows left."""
        deadline = time.monotonic() + timeout
        left = 0
        for writer in (*self._adopted.values(), self.own):
            left += writer.stop(max(0.0, deadline - time.monotonic()))
        for spool in self.spools:
            spool.close()
        return left


def adopt_spools(
    group: WriterGroup, root: Path, make: Callable[[LoaderSpool], BatchWriter]
) -> list[Path]:
    """Adopt every spool directory under `root` not read by another process yet."""
    adopted = []
    try:
        candidates = sorted(p for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    for directory in candidates:
        if group.adopt(directory, make):
            adopted.append(directory)
    return adopted


class Appender:
    """An edge's side of its spool: append and answer; the loader inserts.

    What `BatchWriter.submit_records` is in a process that also inserts: False (and counted)
    when the records could not be kept.
    """

    def __init__(self, spool: Spool, observer: WriterObserver) -> None:
        self._spool = spool
        self._observer = observer
        self.stopping = False

    def submit_records(self, records: Sequence[bytes]) -> bool:
        """Append records; True once they survive this process being killed."""
        if self.stopping:
            self._observer.dropped(len(records), "shutdown")
            return False
        try:
            self._spool.append(records)
        except SpoolFull:
            self._observer.dropped(len(records), "spool_full")
            return False
        except (SpoolError, OSError) as exc:
            log.error("could not spool %d rows: %s", len(records), exc)
            self._observer.dropped(len(records), "spool_error")
            return False
        return True
