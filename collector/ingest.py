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

import orjson

from ashiato.beacon import raw
from ashiato.beacon.accesslog import LogParser, LogRecord, Rejected
from ashiato.beacon.consent import NECESSARY_ONLY, ConsentDecision
from ashiato.beacon.event import new_event_id
from ashiato.beacon.logurl import parse_base_url, request_url
from ashiato.beacon.raw import encode_raw
from ashiato.collector.lineid import line_event_id
from ashiato.collector.metrics import Metrics

SERVER_LOG = ConsentDecision(NECESSARY_ONLY, "server_log")
# What every line's raw record holds before the line's own facts are filled in.
_LOG_DEFAULTS: tuple[object, ...] = tuple(
    {
        "kind": "access_log",
        "source": "log",
        "purposes": SERVER_LOG.purposes,
        "consent_signal": SERVER_LOG.signal,
    }.get(name, default)
    for name, default in raw.RAW_FIELDS
)
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
        log_format: str = "combined",
        *,
        site: str = "",
        base_url: str = "",
        exclude: Sequence[str] = (),
    ) -> None:
        """Raises LogFormatError or BaseUrlError, naming what is wrong, for a bad setting."""
        self._parser = LogParser(log_format)
        self._site = site
        self._base = parse_base_url(base_url)
        self._exclude = re.compile("|".join(f"(?:{p})" for p in exclude)) if exclude else None

    def raw(self, record: LogRecord) -> list[object] | str:
        """The raw record (`beacon.raw`) of one parsed line, or the reason it is skipped."""
        path = record.path
        if record.valid_request and _OWN_PATHS.match(path):
            return "own_endpoint"
        if self._exclude is not None and self._exclude.search(path):
            return "excluded"
        values: list[object] = list(_LOG_DEFAULTS)
        values[raw.EVENT_ID] = new_event_id()
        values[raw.TS_MS] = record.time_ms or int(time.time() * 1000)
        values[raw.PEER] = record.remote_addr
        values[raw.XFF] = record.x_forwarded_for or None
        values[raw.SITE] = self._site or record.host
        values[raw.URL] = request_url(record, self._base)
        values[raw.REFERRER] = record.referer
        values[raw.USER_AGENT] = record.user_agent
        values[raw.METHOD] = record.method
        values[raw.STATUS] = record.status
        values[raw.BYTES_SENT] = record.bytes_sent
        values[raw.REQUEST_TIME_MS] = record.request_time_ms
        return values

    def records(
        self,
        lines: Sequence[bytes | str],
        first_line: int = 1,
        label: str = "",
        origins: Sequence[str] | None = None,
    ) -> tuple[list[bytes], IngestCounts]:
        """Raw records to spool for `lines`, with counts; rejected lines keep `label:number`.

        `origins` names where each line sits (`lineid.line_origin`: its file's content identity
        and byte offset). The event id is derived from it and the line, so reading the same line
        again (after a crash between spooling and the checkpoint, or from a copy or a .gz of a
        file already read) gives the same event, which storage keeps once.
        """
        counts = IngestCounts()
        records: list[bytes] = []
        for index, line in enumerate(lines):
            number = first_line + index
            counts.read += 1
            parsed = self._parser.parse(line)
            if isinstance(parsed, Rejected):
                counts.rejected[parsed.reason] += 1
                counts.rejected_lines.append(f"{label}:{number}" if label else str(number))
                continue
            outcome = self.raw(parsed)
            if isinstance(outcome, str):
                counts.skipped[outcome] += 1
                continue
            if origins is not None:
                outcome[raw.EVENT_ID] = line_event_id(origins[index], line)
            try:  # each on its own: one line that cannot be stored costs only itself
                records.append(encode_raw(outcome))
            except orjson.JSONEncodeError:
                counts.rejected["unencodable"] += 1
        counts.stored = len(records)
        return records, counts


def record_ingest(metrics: Metrics, counts: IngestCounts, source: str = "file") -> None:
    """Count a run of lines into the log-ingestion metrics."""
    metrics.log_lines.labels(source, "read").inc(counts.read)
    metrics.log_lines.labels(source, "stored").inc(counts.stored)
    for reason, n in counts.skipped.items():
        metrics.log_rejected.labels(source, reason).inc(n)
    for reason, n in counts.rejected.items():
        metrics.log_rejected.labels(source, reason).inc(n)
