"""The loader's work on a batch: raw records in, a block of columns in schema order out.

Everything the edge left for later happens here, a batch at a time, with the enricher's
caches warm: user agent, geo, referrer, and the column rule of `beacon.columns` (with the
consent decision and suppression the edge made). Values go straight from the raw record to a
list per column; no dict per hit, and no per-row encoding for the insert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import orjson

from ashiato.beacon import raw
from ashiato.beacon.columns import COLUMNS
from ashiato.beacon.pipeline import Enricher
from ashiato.storage._records import Columns
from ashiato.storage.writer import ColumnBlock, WriterObserver

log = logging.getLogger(__name__)


class RawShaper:
    """Turns the edge's raw records into column blocks for the events table."""

    def __init__(
        self,
        enricher: Enricher,
        observer: WriterObserver,
        timed: Callable[[float, int], None] | None = None,
    ) -> None:
        self._enricher = enricher
        self._observer = observer
        self._timed = timed

    def handles(self, layout: Columns | None) -> bool:
        """True for segments of raw records."""
        return raw.is_raw_layout(layout)

    def block(self, records: Sequence[bytes], layout: Columns) -> ColumnBlock:
        """The events-table rows of `records`, column by column."""
        started = time.perf_counter()
        row = self._enricher.row
        rows = []
        for record in records:
            try:
                rows.append(row(raw.decode_raw(record, layout)))
            except (ValueError, TypeError, IndexError, orjson.JSONDecodeError) as exc:
                # Checksummed on disk, so only a bug or a newer writer makes such a record.
                log.error("dropping a raw record that cannot be read: %s", type(exc).__name__)
                self._observer.dropped(1, "undecodable")
        data = [list(column) for column in zip(*rows, strict=True)] if rows else []
        if self._timed is not None and rows:
            self._timed(time.perf_counter() - started, len(rows))
        return ColumnBlock(COLUMNS, data)
