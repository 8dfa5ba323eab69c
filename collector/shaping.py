"""The loader's work on a batch: raw records in, a block of columns in schema order out.

Everything the edge left for later happens here, a batch at a time, with the enricher's
caches warm: user agent, geo, referrer, and the column rule of `beacon.columns` (with the
consent decision and suppression the edge made). Values go straight from the raw record to a
list per column; no dict per hit, and no per-row encoding for the insert.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Sequence

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
        # A batch allocates a few lists per hit; left on, the cyclic collector rescans them
        # all over and over, which doubled the time per hit. Reference counting frees them.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._block(records, layout)
        finally:
            if collecting:
                gc.enable()

    def _block(self, records: Sequence[bytes], layout: Columns) -> ColumnBlock:
        started = time.perf_counter()
        try:
            raws, unreadable = raw.decode_many(records, layout)
        except ValueError as exc:  # a layout with fields this version does not know
            log.error("cannot read %d raw records: %s", len(records), exc)
            raws, unreadable = [], len(records)
        if unreadable:
            # Checksummed on disk, so only a bug or a newer writer makes such a record.
            log.error("dropping %d raw records that cannot be read", unreadable)
            self._observer.dropped(unreadable, "undecodable")
        try:
            data = self._enricher.columns(raws)
        except (TypeError, ValueError, AttributeError, IndexError):
            # A record with a value of the wrong shape: find it, rather than lose the batch.
            raws = [values for values in raws if self._readable(values)]
            data = self._enricher.columns(raws)
        if self._timed is not None and raws:
            self._timed(time.perf_counter() - started, len(raws))
        return ColumnBlock(COLUMNS, data if raws else [])

    def _readable(self, values: list[object]) -> bool:
        try:
            self._enricher.columns([values])
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            log.error("dropping a raw record that cannot be read: %s", type(exc).__name__)
            self._observer.dropped(1, "undecodable")
            return False
        return True
