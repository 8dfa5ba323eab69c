"""Access-log lines to events: shared by `ingest-log`, `--follow`, the admin API and syslog.

A server log carries no consent signal, so its events are kept under the necessary-only rules:
truncated IP outside the security window, no visitor id. Requests for the collector's own
endpoints are skipped, since the beacon already counted them. URLs are stored whole, as the
beacon stores them, as far as the operator's base URL and the line tell (`beacon.logurl`).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ashiato.beacon.accesslog import LogParser, LogRecord, Rejected
from ashiato.beacon.consent import NECESSARY_ONLY, ConsentDecision
from ashiato.beacon.event import Event
from ashiato.beacon.logurl import parse_base_url, request_url
from ashiato.beacon.pipeline import Enricher, Hit
from ashiato.collector.lineid import line_event_id
from ashiato.collector.metrics import Metrics

SERVER_LOG = ConsentDecision(NECESSARY_ONLY, "server_log")
# The collector's own endpoints: counted by the beacon already.
_OWN_PATHS = re.compile(r"^/(?:b\.gif|b|t\.js|consent|o/[^/]+\.gif|c/[^/]+)(?:[?#]|$)")


@dataclass
class IngestCounts:
    """What happened to a run of lines."""

    read: int = 0
    stored: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_lines: list[str] = field(default_factory=list)

    def add(self, other: IngestCounts) -> None:
        """Fold another run's counts into this one."""
        self.read += other.read
        self.stored += other.stored
        self.skipped.update(other.skipped)
        self.rejected.update(other.rejected)
        self.rejected_lines.extend(other.rejected_lines)

    def as_dict(self) -> dict[str, object]:
        """JSON-able counts, for the admin API."""
        return {
            "read": self.read,
            "stored": self.stored,
            "skipped": dict(self.skipped),
            "rejected": dict(self.rejected),
            "rejected_lines": self.rejected_lines[:100],
        }


class LogIngestor:
    """Turns access-log lines into events, built once per format, site and base URL."""

    def __init__(
        self,
        enricher: Enricher,
        log_format: str = "combined",
        *,
        site: str = "",
        base_url: str = "",
        exclude: Sequence[str] = (),
    ) -> None:
        """Raises LogFormatError or BaseUrlError, naming what is wrong, for a bad setting."""
        self._enricher = enricher
        self._parser = LogParser(log_format)
        self._site = site
        self._base = parse_base_url(base_url)
        self._exclude = re.compile("|".join(f"(?:{p})" for p in exclude)) if exclude else None

    def event(self, record: LogRecord) -> Event | str:
        """The event for one parsed line, or the reason it is skipped."""
        path = record.path
        if record.valid_request and _OWN_PATHS.match(path):
            return "own_endpoint"
        if self._exclude is not None and self._exclude.search(path):
            return "excluded"
        hit = Hit(
            kind="access_log",
            ts_ms=record.time_ms or int(time.time() * 1000),
            source="log",
            peer=record.remote_addr,
            x_forwarded_for=record.x_forwarded_for or None,
            site=self._site or record.host,
            url=request_url(record, self._base),
            referrer=record.referer,
            user_agent=record.user_agent,
            method=record.method,
            status=record.status,
            bytes_sent=record.bytes_sent,
            request_time_ms=record.request_time_ms,
        )
        return self._enricher.build(hit, SERVER_LOG).event

    def rows(
        self,
        lines: Sequence[bytes | str],
        first_line: int = 1,
        label: str = "",
        origins: Sequence[str] | None = None,
    ) -> tuple[list[dict[str, object]], IngestCounts]:
        """Rows to store for `lines`, with counts; rejected lines keep `label:number`.

        `origins` names where each line sits (`lineid.line_origin`: its file's content identity
        and byte offset). The event id is derived from it and the line, so reading the same line
        again (after a crash between spooling and the checkpoint, or from a copy or a .gz of a
        file already read) gives the same event, which storage keeps once.
        """
        counts = IngestCounts()
        rows: list[dict[str, object]] = []
        for index, line in enumerate(lines):
            number = first_line + index
            counts.read += 1
            parsed = self._parser.parse(line)
            if isinstance(parsed, Rejected):
                counts.rejected[parsed.reason] += 1
                counts.rejected_lines.append(f"{label}:{number}" if label else str(number))
                continue
            outcome = self.event(parsed)
            if isinstance(outcome, str):
                counts.skipped[outcome] += 1
                continue
            row = outcome.to_row()
            if origins is not None:
                row["event_id"] = line_event_id(origins[index], line)
            rows.append(row)
        counts.stored = len(rows)
        return rows, counts


def record_ingest(metrics: Metrics, counts: IngestCounts, source: str = "file") -> None:
    """Count a run of lines into the log-ingestion metrics."""
    metrics.log_lines.labels(source, "read").inc(counts.read)
    metrics.log_lines.labels(source, "stored").inc(counts.stored)
    for reason, n in counts.skipped.items():
        metrics.log_rejected.labels(source, reason).inc(n)
    for reason, n in counts.rejected.items():
        metrics.log_rejected.labels(source, reason).inc(n)
