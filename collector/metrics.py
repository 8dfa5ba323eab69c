"""Prometheus metrics: one registry, created by the caller and handed in."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ashiato.collector.loader import WriterGroup
    from ashiato.storage.spool import SpoolStats


class _Gauges(Collector):
    """Gauges read at scrape time (queue depth and the like) from callables."""

    def __init__(self) -> None:
        self.sources: dict[str, tuple[str, Callable[[], float]]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (doc, read) in self.sources.items():
            yield GaugeMetricFamily(name, doc, value=read())


class Metrics:
    """Every series the collector exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Rows this process inserted since it started, for its closing line.
        self.stored_rows = 0
        self.hits = Counter(
            "ashiato_hits_total",
            "Hits accepted, by kind and consent outcome",
            ["kind", "consent"],
            registry=registry,
        )
        self._hit_children: dict[tuple[str, str], Any] = {}
        self.rejected = Counter(
            "ashiato_rejected_total",
            "Hits refused or not stored, by reason",
            ["reason"],
            registry=registry,
        )
        self.connections_closed = Counter(
            "ashiato_connections_closed_total",
            "Client connections closed or refused by the collector's own limits, by listener "
            "(http, syslog) and reason (header_timeout, body_timeout, idle, over_capacity)",
            ["listener", "reason"],
            registry=registry,
        )
        self.warnings = Counter(
            "ashiato_warnings_total",
            "Hits stored with part of them ignored, by reason (unknown_purpose, no_site…)",
            ["reason"],
            registry=registry,
        )
        self.enrich_seconds = Histogram(
            "ashiato_enrich_seconds",
            "Loader time spent enriching one hit (a batch's time over its rows)",
            registry=registry,
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
        )
        self.batch_rows = Histogram(
            "ashiato_writer_batch_rows",
            "Rows per insert batch",
            registry=registry,
            buckets=(1, 10, 100, 500, 1000, 5000, 10000, 50000),
        )
        self.flush_seconds = Histogram(
            "ashiato_writer_flush_seconds",
            "Time to insert one batch",
            registry=registry,
        )
        self.retries = Counter(
            "ashiato_writer_retries_total",
            "Insert attempts that failed and will be retried",
            ["reason"],
            registry=registry,
        )
        self.writer_dropped = Counter(
            "ashiato_writer_dropped_rows_total",
            "Rows given up on, by reason",
            ["reason"],
            registry=registry,
        )
        self.admin_requests = Counter(
            "ashiato_admin_requests_total",
            "Admin API requests, by action and outcome",
            ["action", "outcome"],
            registry=registry,
        )
        self.log_lines = Counter(
            "ashiato_log_lines_total",
            "Access-log lines, by source and outcome (read, stored)",
            ["source", "outcome"],
            registry=registry,
        )
        self.log_rejected = Counter(
            "ashiato_log_lines_rejected_total",
            "Access-log lines not stored, by source and reason",
            ["source", "reason"],
            registry=registry,
        )
        self.retention_rows = Counter(
            "ashiato_retention_rows_total",
            "Rows a retention job affected",
            ["job"],
            registry=registry,
        )
        self.retention_seconds = Histogram(
            "ashiato_retention_duration_seconds",
            "Time one retention job took",
            ["job"],
            registry=registry,
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 1800),
        )
        self.retention_last_success = Gauge(
            "ashiato_retention_last_success_timestamp_seconds",
            "When each retention job last succeeded (from the audit trail, so runs by the "
            "systemd timer count too)",
            ["job"],
            registry=registry,
            multiprocess_mode="max",
        )
        self._gauges = _Gauges()
        registry.register(self._gauges)
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self._shared: list[tuple[Gauge, Callable[[], float]]] = []

    def watch_spools(self, group: WriterGroup) -> None:
        """Export the state of the spools this process loads, and their backlog, as gauges
        read at scrape time."""

        def total(read: Callable[[SpoolStats], float]) -> Callable[[], float]:
            return lambda: sum(read(spool.stats()) for spool in list(group.spools))

        self.gauge("ashiato_spool_bytes", "Bytes held in spool segments", total(lambda s: s.bytes))
        self.gauge("ashiato_spool_segments", "Spool segment files", total(lambda s: s.segments))
        self.gauge(
            "ashiato_spool_oldest_unflushed_seconds",
            "Age of the oldest spooled event not yet in ClickHouse",
            lambda: max((spool.stats().oldest_age for spool in list(group.spools)), default=0.0),
            mode="livemax",
        )
        self.gauge(
            "ashiato_spool_corrupt_records",
            "Corrupt spool regions skipped since start",
            total(lambda s: s.corrupt),
        )
        self.gauge("ashiato_writer_queue_rows", "Rows waiting to be inserted", lambda: group.depth)

    def hit(self, kind: str, consent: str) -> Any:
        """The `ashiato_hits_total` child of one kind and consent outcome, looked up once."""
        child = self._hit_children.get((kind, consent))
        if child is None:
            child = self._hit_children[kind, consent] = self.hits.labels(kind, consent)
        return child

    def enriched(self, seconds: float, rows: int) -> None:
        """A loader batch of `rows` was enriched in `seconds`: the time per hit, per batch."""
        self.enrich_seconds.observe(seconds / rows)

    def gauge(self, name: str, doc: str, read: Callable[[], float], mode: str = "livesum") -> None:
        """Export `read()` as a gauge, evaluated at each scrape.

        With several workers a scrape reaches one of them, so each worker instead writes its
        value to prometheus-client's shared files every second (`refresh`), combined by `mode`.
        """
        if not self.multiprocess:
            self._gauges.sources[name] = (doc, read)
            return
        gauge = Gauge(name, doc, registry=None, multiprocess_mode=mode)  # type: ignore[arg-type]
        self._shared.append((gauge, read))

    def refresh(self) -> None:
        """Write this worker's scrape-time gauges to the shared files (multiprocess mode)."""
        for gauge, read in self._shared:
            gauge.set(read())

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's registry, or every worker's combined."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return generate_latest(combined)

    def retention_ran(self, results: Mapping[str, Mapping[str, Any]]) -> None:
        """Count what a retention run did, job by job."""
        for job, result in results.items():
            self.retention_seconds.labels(job).observe(float(result.get("seconds", 0)))
            if not result.get("dry_run"):
                self.retention_last_success.labels(job).set(time.time())
                self.retention_rows.labels(job).inc(rows_affected(job, result))

    # The batch writer reports through these three (storage.writer.WriterObserver).
    def inserted(self, rows: int, seconds: float) -> None:
        """A batch landed."""
        self.stored_rows += rows
        self.batch_rows.observe(rows)
        self.flush_seconds.observe(seconds)

    def retried(self, reason: str) -> None:
        """An insert will be retried."""
        self.retries.labels(reason).inc()

    def dropped(self, rows: int, reason: str) -> None:
        """Rows were given up on."""
        self.writer_dropped.labels(reason).inc(rows)


def rows_affected(job: str, result: Mapping[str, Any]) -> int:
    """Rows a retention job's result says it touched."""
    if job == "expire":
        return sum(int(p.get("rows", 0)) for p in result.get("dropped", []))
    if job == "anonymize":
        return int(result.get("rows", 0))
    return len(result.get("revoked", []))
