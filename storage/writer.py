"""The batch writer: rows queue up and one thread inserts them in batches.

A batch goes out when it reaches `max_rows` or when its oldest row has waited `max_delay`
seconds, whichever comes first. The insert runs on the writer's own thread with its own
backend, so a large block never stalls the event loop and no client is shared between threads.
Anything that accepts rows through `submit` (a durable spool, for instance) can sit in front.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from storage.backend import Backend, Store
from storage.errors import QueryRejected, StorageError, StorageUnavailable

log = logging.getLogger(__name__)

Row = Mapping[str, Any]


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
        backoff_cap: float = 30.0,
    ) -> None:
        self._store = store
        self._table = table
        self._columns = tuple(columns)
        self._max_rows = max_rows
        self._max_delay = max_delay
        self._max_queue = max_queue
        self._observer = observer or NullObserver()
        self._backoff_cap = backoff_cap
        self._queue: deque[tuple[float, Row]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._backend: Backend | None = None

    @property
    def depth(self) -> int:
        """Rows waiting to be inserted, including a batch being sent."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="ashiato-writer", daemon=True)
        self._thread.start()

    def submit(self, rows: Sequence[Row]) -> bool:
        """Queue rows for insertion; False (and counted) when the queue is full."""
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

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row queued so far is inserted; False if `timeout` ran out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
                self._cond.notify_all()
        return True

    def stop(self, timeout: float = 10.0) -> int:
        """Insert what is queued within `timeout`, then stop; returns the rows left behind."""
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, timeout))
        left = self.depth
        if left:
            self._observer.dropped(left, "shutdown")
        if self._backend is not None:
            self._backend.close()
        return left

    def _take_batch(self) -> list[Row]:
        with self._cond:
            while not self._stopping:
                if len(self._queue) >= self._max_rows:
                    break
                if self._queue:
                    wait = self._queue[0][0] + self._max_delay - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                else:
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
            self._send(batch)
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()

    def _send(self, batch: list[Row]) -> None:
        """Insert one batch, retrying passing failures with capped, jittered backoff."""
        token = batch_token(batch)
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                if self._backend is None:
                    self._backend = self._store.connect()
                self._backend.insert(self._table, batch, self._columns, dedup_token=token)
            except QueryRejected as exc:
                log.error("ClickHouse refused a batch of %d rows: %s", len(batch), exc)
                self._observer.dropped(len(batch), "rejected")
                return
            except (StorageUnavailable, StorageError) as exc:
                self._reset_backend()
                self._observer.retried("unavailable")
                attempt += 1
                delay = min(self._backoff_cap, 0.1 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning("insert failed (attempt %d), retrying in %.1fs: %s", attempt, delay, exc)
                with self._cond:
                    if self._stopping:
                        self._observer.dropped(len(batch), "shutdown")
                        return
                    self._cond.wait(delay)
                continue
            self._observer.inserted(len(batch), time.monotonic() - started)
            return

    def _reset_backend(self) -> None:
        if self._backend is not None:
            try:
                self._backend.close()
            except Exception:  # noqa: S110 - a broken connection may fail to close
                pass
            self._backend = None
