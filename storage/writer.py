"""The batch writer: rows are spooled, and one thread inserts them in batches.

A batch goes out when it reaches `max_rows` or when its oldest row has waited `max_delay`
seconds, whichever comes first. The insert runs on the writer's own thread with its own
backend, so a large block never stalls the event loop and no client is shared between threads.

The queue is a `Spool`: `submit` returns only once the rows are on disk, a batch is
acknowledged in the spool only after ClickHouse accepted it, batches ClickHouse refuses for
good go to dead-letter files, and whatever is left at shutdown is replayed by the next writer
over the same spool. The spool's column list is the row layout: a batch spooled under an
older list is inserted with the columns it has, and ClickHouse fills in the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ashiato.storage._records import Columns, decode_record, encode_values
from ashiato.storage.backend import Backend, Store
from ashiato.storage.deadletter import write_dead_letter
from ashiato.storage.errors import (
    QueryRejected,
    StorageError,
    StorageUnavailable,
    UnstorableRow,
)
from ashiato.storage.spool import Spool, SpoolBatch, SpoolError, SpoolFull

log = logging.getLogger(__name__)

Row = Mapping[str, Any]

_SENT, _REFUSED, _ABANDONED = "sent", "refused", "abandoned"


class WriterObserver(Protocol):
    """What the writer reports as it works (the collector turns this into metrics)."""

    def inserted(self, rows: int, seconds: float) -> None:
        """A batch of `rows` was accepted by ClickHouse in `seconds`."""

    def retried(self, reason: str) -> None:
        """An insert failed for a passing reason and will be tried again."""

    def dropped(self, rows: int, reason: str) -> None:
        """Rows were given up on: the queue was full or ClickHouse refused them for good."""


@dataclass(frozen=True, slots=True)
class ColumnBlock:
    """A batch as it is inserted: one list of values per column, every list as long."""

    columns: tuple[str, ...]
    data: list[list[Any]]

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0

    def rows(self) -> list[dict[str, Any]]:
        """The block as rows keyed by column (for a dead letter a person can read)."""
        return [
            dict(zip(self.columns, values, strict=True)) for values in zip(*self.data, strict=True)
        ]


class Shaper(Protocol):
    """Turns spooled records of a layout the writer does not insert as they are (the edge's
    raw records) into a block of columns; the loader's enrichment is one."""

    def handles(self, layout: Columns | None) -> bool:
        """True for records of `layout` this shaper turns into columns."""

    def block(self, records: Sequence[bytes], layout: Columns) -> ColumnBlock:
        """The rows of `records`, column by column; a record it cannot read is left out and
        counted, never fails the others."""


class NullObserver:
    """An observer that records nothing."""

    def inserted(self, rows: int, seconds: float) -> None:
        """Ignore."""

    def retried(self, reason: str) -> None:
        """Ignore."""

    def dropped(self, rows: int, reason: str) -> None:
        """Ignore."""


def encode_record(row: Row, columns: Sequence[str]) -> bytes:
    """The spool record of `row` laid out as `columns`: the very bytes a writer appends.

    Raises UnstorableRow for a value the encoding cannot carry (a lone surrogate in a string,
    an integer past 64 bits), ValueError for a row without one of the columns. Rows encoded
    one by one before they join a shared append cannot make that append fail for the rows they
    were sent with.
    """
    try:
        return encode_values(row, columns)
    except orjson.JSONEncodeError as exc:
        raise UnstorableRow(f"a row cannot be encoded: {exc}") from None
    except KeyError as exc:
        raise ValueError(f"a row without the column {exc}") from None


def batch_token(rows: Sequence[Row]) -> str | None:
    """A deduplication token that is the same whenever the same events are sent again."""
    if not rows or "event_id" not in rows[0]:
        return None
    return _ids_token(row["event_id"] for row in rows)


def _ids_token(ids: Iterable[Any]) -> str:
    digest = hashlib.sha256()
    for event_id in ids:
        digest.update(str(event_id).encode())
    return digest.hexdigest()


def block_token(block: ColumnBlock) -> str | None:
    """`batch_token` of a block of columns."""
    if "event_id" not in block.columns or not len(block):
        return None
    return _ids_token(block.data[block.columns.index("event_id")])


class BatchWriter:
    """Spool rows and insert them into `table` in batches from one background thread."""

    def __init__(
        self,
        store: Store,
        table: str,
        spool: Spool,
        *,
        max_rows: int = 5000,
        max_delay: float = 1.0,
        observer: WriterObserver | None = None,
        backoff_cap: float = 5.0,
        shaper: Shaper | None = None,
        poll: float | None = None,
    ) -> None:
        if not spool.columns and shaper is None:
            raise ValueError(f"the spool {spool.directory} declares no columns to write")
        self._shaper = shaper
        self._poll = poll
        self._store = store
        self._table = table
        self._spool = spool
        self._columns = tuple(name for name, _ in spool.columns)
        self._max_rows = max_rows
        self._max_delay = max_delay
        self._observer = observer or NullObserver()
        self._backoff_cap = backoff_cap
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._urgent = False  # a flush is waiting: send without waiting for max_delay
        self._drain_until = float("inf")
        self._thread: threading.Thread | None = None
        self._backend: Backend | None = None

    @property
    def depth(self) -> int:
        """Rows not yet inserted: stored in the spool, unacknowledged."""
        return self._spool.unacked

    def start(self) -> None:
        """Start the writer thread; the spool's unacknowledged records go out first."""
        self._spool.rewind()
        self._thread = threading.Thread(target=self._run, name="ashiato-writer", daemon=True)
        self._thread.start()

    def encode(self, row: Row) -> bytes:
        """The spool record of `row` in this writer's column order (see `encode_record`)."""
        return encode_record(row, self._columns)

    def append(self, rows: Sequence[Row]) -> None:
        """Spool rows for insertion; on return they survive the process being killed.

        Raises SpoolFull while the spool is at its bound (try again later), SpoolError when
        the spool cannot take them, UnstorableRow or ValueError for a row it cannot hold.
        """
        self.append_records([self.encode(row) for row in rows])

    def append_records(self, records: Sequence[bytes]) -> None:
        """Spool rows already encoded by `encode`; raises as `append` does."""
        if self._stopping:
            raise SpoolError("the writer is stopping")
        try:
            self._spool.append(records)
        except OSError as exc:
            # An fsync refused by the disk (ENOSPC on NFS or thin storage).
            raise SpoolError(f"cannot spool {len(records)} rows: {exc}") from exc
        # Wake the writer for a full batch or to start timing a new one, not for every hit: a
        # wake-up per hit cost a context switch per hit.
        unread = self._spool.pending()[0]
        if unread >= self._max_rows or unread == len(records):  # full, or the first of a batch
            with self._cond:
                self._cond.notify_all()

    def submit(self, rows: Sequence[Row]) -> bool:
        """Spool rows for insertion; False (and counted) when they could not be kept."""
        try:
            records = [self.encode(row) for row in rows]
        except (UnstorableRow, ValueError) as exc:
            log.error("could not spool %d rows: %s", len(rows), exc)
            self._observer.dropped(len(rows), "unencodable")
            return False
        return self.submit_records(records)

    def submit_records(self, records: Sequence[bytes]) -> bool:
        """Spool rows already encoded by `encode`; False (and counted) when not kept.

        The append then only frames bytes known to be good, so it fails for all of them only
        when the spool itself does (full, closed, or its disk failing).
        """
        if self._stopping:
            self._observer.dropped(len(records), "shutdown")
            return False
        try:
            self.append_records(records)
        except SpoolFull:
            self._observer.dropped(len(records), "spool_full")
            return False
        except (StorageError, ValueError) as exc:
            log.error("could not spool %d rows: %s", len(records), exc)
            self._observer.dropped(len(records), "spool_error")
            return False
        return True

    def sync(self) -> None:
        """Force what is spooled to disk now, whatever the fsync policy."""
        self._spool.sync()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row accepted so far is inserted; False if `timeout` ran out."""
        deadline = time.monotonic() + timeout
        target = self._spool.tail()
        self._wake.set()
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while self._spool.acked() < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
                self._cond.notify_all()
        return True

    def stop(self, timeout: float = 10.0) -> int:
        """Stop accepting, insert what is waiting within `timeout`; returns the rows left.

        The rows left stay in the spool for the next writer to replay, so they are not lost.
        """
        spool = self._spool
        with self._cond:
            self._stopping = True
            self._drain_until = time.monotonic() + timeout
            self._cond.notify_all()
        self._wake.set()
        if self._thread is not None:
            # An insert already on the wire may outlast the bound; its rows are still spooled.
            self._thread.join(timeout=timeout + 1.0)
        try:
            spool.sync()
        except (OSError, SpoolError) as exc:
            log.error("could not sync the spool at shutdown: %s", exc)
        return spool.unacked

    # -- the spool -------------------------------------------------------------------------

    def _run(self) -> None:
        spool = self._spool
        failures = 0
        try:
            while True:
                try:
                    batch = self._next_from_spool(spool)
                    if batch is None or not self._deliver(spool, batch):
                        return
                    failures = 0
                except OSError as exc:
                    # The spool's disk failed under a read or an ack: start over from the last
                    # acknowledged record (a resent batch is deduplicated) rather than die.
                    failures += 1
                    log.error("spool I/O failed (attempt %d): %s", failures, exc)
                    self._observer.retried("spool")
                    spool.rewind()
                    if not self._backoff(failures):
                        return
                with self._cond:
                    self._cond.notify_all()
        except SpoolError as exc:  # the spool was closed under a writer that outlived stop()
            log.warning("writer stopped: %s", exc)
        finally:
            self._reset_backend()
            with self._cond:
                self._cond.notify_all()

    def _next_from_spool(self, spool: Spool) -> SpoolBatch | None:
        """Wait until a batch is due (full, old enough, flushed or draining) and read it."""
        tick = max(0.05, spool.fsync_interval / 2) if spool.fsync == "interval" else 1.0
        if self._poll is not None:
            tick = min(tick, self._poll)
        while True:
            spool.refresh()
            spool.sync_due()
            with self._cond:
                unread, oldest = spool.pending()
                if self._stopping and (not unread or time.monotonic() >= self._drain_until):
                    return None
                if not unread:
                    self._urgent = False
                    self._cond.wait(tick)
                    continue
                wait = (oldest or 0.0) + self._max_delay - time.time()
                if not (self._stopping or self._urgent or unread >= self._max_rows or wait <= 0):
                    self._cond.wait(min(wait, tick))
                    continue
            batch = spool.read(self._max_rows)
            if batch is not None:
                return batch

    def _deliver(self, spool: Spool, batch: SpoolBatch) -> bool:
        """Insert a spooled batch, or dead-letter it; False when shutdown cut it short."""
        block = self._block_of(batch)
        outcome, error = self._insert(block) if len(block) else (_SENT, "")
        if outcome == _ABANDONED:
            return False
        if outcome == _REFUSED:
            log.error("ClickHouse refused a batch of %d rows for good: %s", len(block), error)
            if not self._dead_letter(spool, block.rows(), block.columns, error):
                return False
            self._observer.dropped(len(block), "dead_letter")
        spool.ack(batch.position)
        return True

    def _block_of(self, batch: SpoolBatch) -> ColumnBlock:
        """The batch's rows as columns: shaped (raw records), or decoded (finished rows)."""
        if self._shaper is not None and self._shaper.handles(batch.columns):
            assert batch.columns is not None
            return self._shaper.block(batch.records, batch.columns)
        rows = []
        for record in batch.records:
            try:
                rows.append(decode_record(record, batch.columns))
            except ValueError as exc:  # checksummed, so only a bug could write such a record
                log.error("dropping an undecodable spool record: %s", exc)
                self._observer.dropped(1, "undecodable")
        columns = self._columns_of(batch, rows)
        return ColumnBlock(columns, [[row[c] for row in rows] for c in columns])

    def _columns_of(self, batch: SpoolBatch, rows: Sequence[Row]) -> tuple[str, ...]:
        """The columns to insert a batch with: those it was spooled with.

        Columns added since are left out, for ClickHouse to fill with their defaults. Rows of
        a segment without a column list name their own columns: those every row has.
        """
        if batch.columns:
            return tuple(name for name, _ in batch.columns)
        return tuple(c for c in self._columns if all(c in row for row in rows))

    def _dead_letter(
        self, spool: Spool, rows: Sequence[Row], columns: Sequence[str], error: str
    ) -> bool:
        attempt = 0
        while True:
            try:
                write_dead_letter(spool.directory, self._table, columns, rows, error)
                return True
            except OSError as exc:
                attempt += 1
                log.error("cannot write a dead letter (attempt %d): %s", attempt, exc)
                self._observer.retried("dead_letter")
                if not self._backoff(attempt):
                    return False

    # -- inserting -------------------------------------------------------------------------

    def _insert(self, block: ColumnBlock) -> tuple[str, str]:
        """Insert one batch, retrying passing failures with capped, jittered backoff."""
        token = block_token(block)
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                if self._backend is None:
                    # A refusal while connecting (unknown database, bad credentials) is about
                    # the server, not this batch: retry it rather than give the batch up.
                    try:
                        self._backend = self._store.connect()
                    except QueryRejected as exc:
                        raise StorageUnavailable(str(exc)) from exc
                self._backend.insert_columns(
                    self._table, block.columns, block.data, dedup_token=token
                )
            except QueryRejected as exc:
                return _REFUSED, str(exc)
            except StorageError as exc:
                self._reset_backend()
                self._observer.retried("unavailable")
                attempt += 1
                log.warning("insert failed (attempt %d), retrying: %s", attempt, exc)
                if not self._backoff(attempt):
                    return _ABANDONED, str(exc)
                continue
            except Exception as exc:
                # The driver refuses some values before sending (a row missing a column, a
                # value of the wrong type); those batches can never succeed either.
                self._reset_backend()
                return _REFUSED, f"{type(exc).__name__}: {exc}"
            self._observer.inserted(len(block), time.monotonic() - started)
            return _SENT, ""

    def _backoff(self, attempt: int) -> bool:
        """Wait before retry `attempt`; False when the writer is stopping and must give up."""
        delay = min(self._backoff_cap, 0.1 * 2**attempt) * random.uniform(0.5, 1.0)
        with self._cond:
            remaining = self._drain_until - time.monotonic()
            if self._stopping and remaining <= 0:
                return False
            delay = min(delay, max(remaining, 0.0))
            self._wake.clear()
        # Not the condition: every accepted hit notifies it, which would cut the backoff short
        # and hammer a ClickHouse that is down. Only stop() and flush() wake a backoff early.
        self._wake.wait(delay)
        return True

    def _reset_backend(self) -> None:
        if self._backend is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                self._backend.close()
            self._backend = None
