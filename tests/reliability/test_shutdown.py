"""SIGTERM under load: the collector exits within its drain bound and loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.clickhouse_server import ClickHouseServer
from tests.reliability.conftest import (
    Collector,
    Outcome,
    assert_exactly_once,
    log_time,
    make_requests,
    wait_for_markers,
)

pytestmark = pytest.mark.server

DRAIN_SECONDS = 10.0  # the default of --drain-seconds
MARGIN = 3.0


def _waiting(collector: Collector) -> int:
    status = collector.cli("spool", "status")
    assert status.returncode == 0, status.stderr
    return int(status.stdout.split(": ", 1)[1].split(" rows waiting")[0])


async def _load_then_sigterm(
    collector: Collector,
    background: Callable[..., asyncio.Task[Outcome]],
    before: Callable[[], object] | None = None,
) -> tuple[Outcome, float]:
    requests = make_requests(
        collector.data_dir, pixels=2000, beacons=2000, beacon_batch=4, opens=500, clicks=500
    )
    outcome, stop = Outcome(), asyncio.Event()
    load = background(collector.url, requests, concurrency=16, rate=400, stop=stop, outcome=outcome)
    await asyncio.sleep(1.0)
    if before is not None:
        await asyncio.to_thread(before)
    await asyncio.sleep(1.5)
    acked_before = len(outcome.acked)
    code, took = await asyncio.to_thread(collector.stop)
    assert code == 0, collector.output()
    stop.set()
    await load
    assert acked_before > 0 and not outcome.bad_answers and not outcome.refused
    return outcome, took


async def test_sigterm_under_load_drains_within_the_bound(
    clickhouse: ClickHouseServer,
    make_collector: Callable[..., Collector],
    background: Callable[..., asyncio.Task[Outcome]],
) -> None:
    collector = make_collector(clickhouse)
    collector.start()
    outcome, took = await _load_then_sigterm(collector, background)
    log_time(f"SIGTERM under load to exit, ClickHouse up ({len(outcome.acked)} acked)", took)
    assert took < DRAIN_SECONDS + MARGIN
    # Everything acknowledged went in before the exit: nothing is left for a next start.
    assert _waiting(collector) == 0
    await wait_for_markers(clickhouse, outcome.acked, timeout=5)
    assert_exactly_once(clickhouse, outcome.acked)


async def test_sigterm_with_clickhouse_down_stops_at_the_bound_and_replays_the_rest(
    clickhouse: ClickHouseServer,
    make_collector: Callable[..., Collector],
    background: Callable[..., asyncio.Task[Outcome]],
) -> None:
    collector = make_collector(clickhouse)
    collector.start()
    outcome, took = await _load_then_sigterm(collector, background, before=clickhouse.stop)
    log_time("SIGTERM under load to exit, ClickHouse down (drain bound 10 s)", took)
    assert DRAIN_SECONDS - 0.5 < took < DRAIN_SECONDS + MARGIN
    left = _waiting(collector)
    assert left > 0
    print(f"[reliability] {left} rows left in the spool for the next start")

    await asyncio.to_thread(clickhouse.start)
    started = time.monotonic()
    collector.start()
    await wait_for_markers(clickhouse, outcome.acked)
    log_time("restart until the spooled rest was replayed", time.monotonic() - started)
    assert_exactly_once(clickhouse, outcome.acked)
    assert _waiting(collector) == 0
    code, _ = await asyncio.to_thread(collector.stop)
    assert code == 0
