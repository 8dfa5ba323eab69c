"""Work the server does on a timer: retention jobs (embedded store), the suppression list, and
the retention jobs' last success for monitoring."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from ashiato.collector.appkeys import CONFIG, METRICS, SECRETS, STORE, SUPPRESSED
from ashiato.collector.operations import Context, retention_policy, run_retention
from ashiato.retention.suppress import Suppression, SuppressionList, suppressions
from ashiato.storage.backend import Store, connection
from ashiato.storage.errors import StorageError

log = logging.getLogger(__name__)


class Suppressed:
    """The suppressions in force as this process last loaded them (`retention.suppress`).

    Reloaded every 30 s, and at once after a change made through this process. Loads run in a
    thread and may overlap, so a load never replaces the result of one that began after it,
    and what this process wrote after a load began is added to its result.
    """

    def __init__(self, load: Callable[[], Awaitable[SuppressionList]]) -> None:
        self.current = SuppressionList()
        self._load = load
        self._clock = 0  # counts loads begun and suppressions added, in order
        self._applied = 0  # when the load in `current` began
        self._added: list[tuple[int, Suppression]] = []

    def add(self, entry: Suppression) -> None:
        """Count a suppression this process just wrote, before the next reload sees it."""
        self._clock += 1
        self._added.append((self._clock, entry))
        self.current = self.current.with_added(entry)

    async def reload(self) -> None:
        """Load the suppressions in force from storage."""
        self._clock += 1
        began = self._clock
        loaded = await self._load()
        if began < self._applied:
            return  # a load that began later is already in use
        self._applied = began
        self._added = [(when, e) for when, e in self._added if when > began]
        for _, entry in self._added:
            loaded = loaded.with_added(entry)
        self.current = loaded


def load_suppressed(store: Store) -> SuppressionList:
    """The suppressions in force, visitors linked to suppressed members included."""
    with connection(store) as backend:
        return suppressions(backend)


def last_successes(app: web.Application) -> dict[str, float]:
    """When each retention job last succeeded, from the audit trail (any process ran it)."""
    with connection(app[STORE]) as backend:
        rows = backend.query(
            "SELECT action, max(ts_ms) FROM audit_log WHERE action LIKE 'retention:%%'"
            " GROUP BY action"
        ).rows
    return {str(action).split(":", 1)[1]: int(ts) / 1000 for action, ts in rows}


def run_jobs(app: web.Application) -> Any:
    """Run every retention job once, as the `retention` actor."""
    ctx = Context(app[SECRETS], retention_policy(app[CONFIG]), "retention")
    with connection(app[STORE]) as backend:
        return run_retention(backend, {"job": "all"}, ctx)


async def _every(seconds: float, work: Callable[[], Awaitable[None]], what: str) -> None:
    while True:
        try:
            await work()
        except (StorageError, OSError) as exc:
            log.warning("%s failed, will retry: %s", what, exc)
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(seconds)


async def background_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the timers; stop them on shutdown."""
    config, metrics = app[CONFIG], app[METRICS]

    async def refresh_retention_status() -> None:
        for job, ts in (await asyncio.to_thread(last_successes, app)).items():
            metrics.retention_last_success.labels(job).set(ts)

    async def retention() -> None:
        metrics.retention_ran(await asyncio.to_thread(run_jobs, app))

    tasks = [
        asyncio.create_task(_every(30, app[SUPPRESSED].reload, "loading the suppression list")),
        asyncio.create_task(_every(60, refresh_retention_status, "reading retention status")),
    ]
    minutes = config.retention.retention_interval_minutes
    if app[STORE].kind == "embedded" and minutes > 0:
        # chdb is open in this process only, so the jobs run here; with a ClickHouse server a
        # systemd timer or cron runs `ashiato retention run` instead.
        tasks.append(asyncio.create_task(_every(minutes * 60, retention, "retention jobs")))
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
