"""Gather the rows of all requests handled in one event-loop turn into one spool append.

Under load many requests finish their work in the same turn of the loop. Appending their rows
together costs one encode pass and one write instead of one per hit, and each request still
gets its answer only after its rows are in the spool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ashiato.storage.writer import BatchWriter

Row = Mapping[str, Any]


class TurnBatcher:
    """Appends to the writer once per event-loop turn; every request awaits the outcome."""

    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer
        self._pending: list[tuple[Sequence[Row], asyncio.Future[bool]]] = []
        self._scheduled = False

    def submit(self, rows: Sequence[Row]) -> asyncio.Future[bool]:
        """A future that is True once `rows` are spooled, False when they were refused."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((rows, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._append)
        return future

    def _append(self) -> None:
        pending, self._pending, self._scheduled = self._pending, [], False
        rows = [row for batch, _ in pending for row in batch]
        accepted = self._writer.submit(rows)
        for _, future in pending:
            if not future.done():
                future.set_result(accepted)
