"""Anonymization: past the security window, events lose what identifies a device.

Every event older than `full_ip` days ends in the same state: no full IP, no reverse-DNS host,
the IP truncated to /24 (IPv4) or /48 (IPv6), and an empty user-agent string (the parsed
browser, OS and device columns stay for statistics). The rows to change are exactly those not
yet in that state, so the job is idempotent: a second run finds nothing, and a run that
crashed (its mutation still queued, or half applied) is finished by running it again.
Rows written while it runs are newer than the window or are caught by the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from ashiato.retention._clock import horizon, to_ms
from ashiato.retention._ipsql import truncated_ip_sql
from ashiato.retention._mutations import mutate
from ashiato.retention.policy import RetentionPolicy
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend
from ashiato.storage.schema import EVENTS_TABLE


@dataclass(frozen=True, slots=True)
class AnonymizeResult:
    """Rows the run anonymized (counted before its mutation) and whether it finished."""

    rows: int
    before_day: str  # events of days before this one were in scope (ISO date)
    done: bool
    dry_run: bool
    elapsed_s: float


def not_anonymized_predicate(backend: Backend) -> str:
    """SQL true for a row older than %(cutoff)s still holding a device identifier."""
    truncated = truncated_ip_sql(backend.capabilities)
    return (
        "day < %(cutoff)s AND (isNotNull(ip_full) OR isNotNull(host)"
        f" OR user_agent != '' OR ip != {truncated})"
    )


def anonymize(
    backend: Backend,
    policy: RetentionPolicy,
    now: datetime,
    dry_run: bool = False,
    *,
    timeout: float = 600.0,
) -> AnonymizeResult:
    """Clear full IPs, hosts and user agents of events past the security window.

    Uses one `ALTER TABLE … UPDATE` mutation and waits up to `timeout` seconds for it; `done`
    is False when it is still running (it finishes in the background; run again to check).
    """
    started = time.monotonic()
    cutoff = horizon(now, policy.full_ip).date()
    params = {"cutoff": cutoff}
    predicate = not_anonymized_predicate(backend)
    rows = int(
        backend.query(f"SELECT count() FROM {EVENTS_TABLE} WHERE {predicate}", params).scalar() or 0
    )
    done = True
    if rows and not dry_run:
        statement = (
            f"ALTER TABLE {backend.layout.local(EVENTS_TABLE)}"
            " UPDATE ip_full = NULL, host = NULL, user_agent = '',"
            f" ip = {truncated_ip_sql(backend.capabilities)} WHERE {predicate}"
        )
        done = mutate(backend, EVENTS_TABLE, statement, params, wait=True, timeout=timeout)
        record(
            backend,
            AuditEntry(
                actor="retention",
                action="anonymize",
                rows=rows,
                detail=f"events before {cutoff.isoformat()}",
            ),
            to_ms(now),
        )
    return AnonymizeResult(rows, cutoff.isoformat(), done, dry_run, time.monotonic() - started)
