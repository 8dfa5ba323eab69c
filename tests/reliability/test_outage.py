"""ClickHouse goes away under load and the collector is restarted meanwhile: nothing is lost."""

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


async def test_clickhouse_outage_with_a_collector_restart_loses_nothing(
    clickhouse: ClickHouseServer,
    make_collector: Callable[..., Collector],
    background: Callable[..., asyncio.Task[Outcome]],
) -> None:
    collector = make_collector(clickhouse, "--drain-seconds", "2")
    collector.start()
    requests = make_requests(
        collector.data_dir, pixels=2000, beacons=2000, beacon_batch=2, opens=800, clicks=800
    )
    outcome, stop = Outcome(), asyncio.Event()
    load = background(collector.url, requests, concurrency=16, rate=300, stop=stop, outcome=outcome)

    await asyncio.sleep(1.5)
    before_outage = len(outcome.acked)
    await asyncio.to_thread(clickhouse.stop)
    await asyncio.sleep(1.5)
    during_outage = len(outcome.acked) - before_outage
    code, took = await asyncio.to_thread(collector.stop)
    assert code == 0
    log_time("SIGTERM to exit with ClickHouse down (--drain-seconds 2)", took)
    assert took < 2 + 3
    # ClickHouse is still down: the new process serves from its spool, /readyz stays 503.
    came_up = await asyncio.to_thread(collector.start, wait="/healthz")
    log_time("restart to /healthz with ClickHouse down", came_up)
    after_restart = len(outcome.acked)
    await asyncio.sleep(2)
    stop.set()
    await load
    by_second_process = len(outcome.acked) - after_restart

    assert before_outage > 0 and during_outage > 0 and by_second_process > 0
    assert not outcome.bad_answers, outcome.bad_answers[:5]
    assert not outcome.refused
    assert outcome.acked.isdisjoint(outcome.unanswered)
    assert collector.metric("ashiato_writer_queue_rows") > 0

    ch_started = time.monotonic()
    await asyncio.to_thread(clickhouse.start)
    await wait_for_markers(clickhouse, outcome.acked, timeout=90)
    drain = time.monotonic() - ch_started
    log_time(f"drain: ClickHouse start until all {len(outcome.acked)} acknowledged events", drain)

    found = assert_exactly_once(clickhouse, outcome.acked)
    # Requests that got no answer (the collector was restarting) were never stored.
    assert found.keys() == outcome.acked
    assert collector.metric("ashiato_writer_dropped_rows_total", reason="dead_letter") == 0
    print(
        f"[reliability] acknowledged {len(outcome.acked)} events "
        f"({before_outage} before the outage, {during_outage} during it, "
        f"{by_second_process} by the restarted collector); "
        f"{len(outcome.unanswered)} got no answer while it restarted"
    )
    await asyncio.to_thread(collector.stop)
