"""The batch writer: rows queue up and one thread inserts them in batches.

A batch goes out when it reaches `max_rows` or when its oldest row has waited `max_delay`
seconds, whichever comes first. The insert runs on the writer's own thread with its own
backend, so a large block never stalls the event loop and no client is shared between threads.

Given a `Spool`, the queue is the spool: `submit` returns only once the rows are on disk, a
batch is acknowledged in the spool only after ClickHouse accepted it, batches ClickHouse
refuses for good go to dead-letter files, and whatever is left at shutdown is replayed by the
next writer over the same spool. Without one, rows wait in memory and are lost on a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson

from ashiato.storage._segments import decode_row, encode_row
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


class NullObserver:
    """An observer that records nothing."""

    def inserted(self, rows: int, seconds: float) -> None:
        """Ignore."""

    def retried(self, reason: str) -> None:
        """Ignore."""

    def dropped(self, rows: int, reason: str) -> None:
        """Ignore."""


def encode_record(row: Row) -> bytes:
    """The spool record of `row`, the very bytes a spooled writer appends.

    Raises UnstorableRow for a value the encoding cannot carry (a lone surrogate in a string,
    an integer past 64 bits). Rows encoded one by one before they join a shared append cannot
    make that append fail for the rows they were sent with.
    """
    try:
        return encode_row(row)
    except orjson.JSONEncodeError as exc:
        raise UnstorableRow(f"a row cannot be encoded: {exc}") from None


def batch_token(rows: Sequence[Row]) -> str | None:
    """A deduplication token that is the same whenever the same events are sent again."""
    if not rows or "event_id" not in rows[0]:
        return None
    digest = hashlib.sha256()
    for row in rows:
        digest.update(str(row["event_id"]).encode())
    return digest.hexdigest()


class BatchWriter:
    """Queue rows and insert them into `table` in batches from one background thread."""

    def __init__(
        self,
        store: Store,
        table: str,
        columns: Sequence[str],
        *,
        max_rows: int = 5000,
        max_delay: float = 1.0,
        max_queue: int = 200_000,
        observer: WriterObserver | None = None,
        backoff_cap: float = 5.0,
        spool: Spool | None = None,
    ) -> None:
        self._store = store
        self._table = table
        self._columns = tuple(columns)
        self._max_rows = max_rows
        self._max_delay = max_delay
        self._max_queue = max_queue
        self._observer = observer or NullObserver()
        self._backoff_cap = backoff_cap
        self._spool = spool
        self._queue: deque[tuple[float, Row]] = deque()
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._urgent = False  # a flush is waiting: send without waiting for max_delay
        self._drain_until = float("inf")
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._backend: Backend | None = None

    @property
    def depth(self) -> int:
        """Rows not yet inserted: queued, in flight, or stored in the spool unacknowledged."""
        if self._spool is not None:
            return self._spool.unacked
        with self._cond:
            return len(self._queue) + self._in_flight

    def start(self) -> None:
        """Start the writer thread; with a spool, its unacknowledged records go out first."""
        target = self._run
        if self._spool is not None:
            self._spool.rewind()
            target = self._run_spooled
        self._thread = threading.Thread(target=target, name="ashiato-writer", daemon=True)
        self._thread.start()

    def submit(self, rows: Sequence[Row]) -> bool:
        """Accept rows for insertion; False (and counted) when they could not be kept."""
        if self._spool is not None:
            return self._submit_spooled(self._spool, rows)
        now = time.monotonic()
        with self._cond:
            if self._stopping or len(self._queue) + len(rows) > self._max_queue:
                full = True
            else:
                full = False
                was_empty = not self._queue
                self._queue.extend((now, row) for row in rows)
                # Wake the writer when a batch is full, or to start timing a new batch.
                if was_empty or len(self._queue) >= self._max_rows:
                    self._cond.notify_all()
        if full:
            self._observer.dropped(len(rows), "queue_full")
        return not full

    def submit_records(self, records: Sequence[bytes]) -> bool:
        """Accept rows already encoded by `encode_record`; False (and counted) if not kept.

        The append then only frames bytes known to be good, so it fails for all of them only
        when the spool itself does (full, closed, or its disk failing).
        """
        if self._spool is None:
            return self.submit([decode_row(record) for record in records])
        return self._append_spooled(self._spool, records)

    def _submit_spooled(self, spool: Spool, rows: Sequence[Row]) -> bool:
        try:
            records = [encode_record(row) for row in rows]
        except UnstorableRow as exc:
            log.error("could not spool %d rows: %s", len(rows), exc)
            self._observer.dropped(len(rows), "unencodable")
            return False
        return self._append_spooled(spool, records)

    def _append_spooled(self, spool: Spool, records: Sequence[bytes]) -> bool:
        if self._stopping:
            self._observer.dropped(len(records), "shutdown")
            return False
        try:
            spool.append(records)
        except SpoolFull:
            self._observer.dropped(len(records), "spool_full")
            return False
        except (StorageError, OSError, ValueError) as exc:
            # OSError: an fsync refused by the disk (ENOSPC on NFS or thin storage).
            log.error("could not spool %d rows: %s", len(records), exc)
            self._observer.dropped(len(records), "spool_error")
            return False
        # Wake the writer for a full batch or to start timing a new one, not for every hit: a
        # wake-up per hit cost a context switch per hit.
        unread = spool.pending()[0]
        if unread >= self._max_rows or unread == len(records):  # full, or the first of a batch
            with self._cond:
                self._cond.notify_all()
        return True

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row accepted so far is inserted; False if `timeout` ran out."""
        deadline = time.monotonic() + timeout
        target = self._spool.tail() if self._spool is not None else None
        self._wake.set()
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            while not self._flushed(target):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
                self._cond.notify_all()
        return True

    def _flushed(self, target: object) -> bool:
        if self._spool is not None:
            return bool(self._spool.acked() >= target)  # type: ignore[operator]
        return not (self._queue or self._in_flight)

    def stop(self, timeout: float = 10.0) -> int:
        """Stop accepting, insert what is waiting within `timeout`; returns the rows left.

        Without a spool the rows left are lost (and counted as dropped); with one they stay in
        the spool for the next writer to replay, so they are not counted.
        """
        if self._spool is not None:
            return self._stop_spooled(self._spool, timeout)
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, timeout))
        left = self.depth
        if left:
            self._observer.dropped(left, "shutdown")
        if self._backend is not None:
            self._backend.close()
        return left

    def _stop_spooled(self, spool: Spool, timeout: float) -> int:
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

    # -- the in-memory queue ---------------------------------------------------------------

    def _take_batch(self) -> list[Row]:
        with self._cond:
            while not self._stopping:
                if len(self._queue) >= self._max_rows or (self._urgent and self._queue):
                    break
                if self._queue:
                    wait = self._queue[0][0] + self._max_delay - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                else:
                    self._urgent = False
                    self._cond.wait()
            count = min(len(self._queue), self._max_rows)
            batch = [self._queue.popleft()[1] for _ in range(count)]
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                if self._stopping:
                    return
                continue
            outcome, error = self._insert(batch)
            if outcome == _REFUSED:
                log.error("ClickHouse refused a batch of %d rows: %s", len(batch), error)
                self._observer.dropped(len(batch), "rejected")
            elif outcome == _ABANDONED:
                self._observer.dropped(len(batch), "shutdown")
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()

    # -- the spool -------------------------------------------------------------------------

    def _run_spooled(self) -> None:
        assert self._spool is not None
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
        while True:
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
        rows, records = [], []
        for record in batch.records:
            try:
                rows.append(decode_row(record))
                records.append(record)
            except ValueError as exc:  # checksummed, so only a bug could write such a record
                log.error("dropping an undecodable spool record: %s", exc)
                self._observer.dropped(1, "undecodable")
        outcome, error = self._insert(rows) if rows else (_SENT, "")
        if outcome == _ABANDONED:
            return False
        if outcome == _REFUSED:
            log.error("ClickHouse refused a batch of %d rows for good: %s", len(rows), error)
            if not self._dead_letter(spool, records, error):
                return False
            self._observer.dropped(len(rows), "dead_letter")
        spool.ack(batch.position)
        return True

    def _dead_letter(self, spool: Spool, records: list[bytes], error: str) -> bool:
        attempt = 0
        while True:
            try:
                write_dead_letter(spool.directory, self._table, self._columns, records, error)
                return True
            except OSError as exc:
                attempt += 1
                log.error("cannot write a dead letter (attempt %d): %s", attempt, exc)
                self._observer.retried("dead_letter")
                if not self._backoff(attempt):
                    return False

    # -- inserting -------------------------------------------------------------------------

    def _insert(self, batch: Sequence[Row]) -> tuple[str, str]:
        """Insert one batch, retrying passing failures with capped, jittered backoff."""
        token = batch_token(batch)
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
                self._backend.insert(self._table, batch, self._columns, dedup_token=token)
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
            self._observer.inserted(len(batch), time.monotonic() - started)
            return _SENT, ""

    def _backoff(self, attempt: int) -> bool:
        """Wait before retry `attempt`; False when the writer is stopping and must give up."""
        delay = min(self._backoff_cap, 0.1 * 2**attempt) * random.uniform(0.5, 1.0)
        with self._cond:
            if self._spool is None:
                if self._stopping:
                    return False
            else:
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
