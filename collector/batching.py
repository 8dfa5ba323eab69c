"""Gather the records of all requests handled in one event-loop turn into one spool append.

Under load many requests finish their work in the same turn of the loop. Appending their rows
together costs one write instead of one per hit, and each request still gets its answer only
after its rows are in the spool. Each request encodes its own rows (`BatchWriter.encode`) before
they join, so the shared append only frames bytes known to be good: one visitor's bad input is
refused on its own request and cannot fail the others' append.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol


class Sink(Protocol):
    """Where a turn's records go: a writer's spool, or an edge's."""

    def submit_records(self, records: Sequence[bytes]) -> bool:
        """Spool `records`; False (and counted) when they could not be kept."""


class TurnBatcher:
    """Appends to the spool once per event-loop turn; every request awaits the outcome."""

    def __init__(self, writer: Sink) -> None:
        self._writer = writer
        self._pending: list[tuple[Sequence[bytes], asyncio.Future[bool]]] = []
        self._scheduled = False

    def submit(self, records: Sequence[bytes]) -> asyncio.Future[bool]:
        """A future that is True once `records` are spooled, False when they were refused."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((records, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._append)
        return future

    def _append(self) -> None:
        pending, self._pending, self._scheduled = self._pending, [], False
        records = [record for batch, _ in pending for record in batch]
        accepted = self._writer.submit_records(records)
        for _, future in pending:
            if not future.done():
                future.set_result(accepted)
