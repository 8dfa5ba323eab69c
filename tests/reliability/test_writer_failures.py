"""What the writer does with a batch ClickHouse refuses for good, and with a network failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.clickhouse_server import ClickHouseServer
from tests.reliability.conftest import (
    Collector,
    assert_exactly_once,
    log_time,
    make_requests,
    query,
    run_load,
    stored_markers,
    wait_for_markers,
)

pytestmark = pytest.mark.server


async def _wait_metric(collector: Collector, name: str, value: float, **labels: str) -> float:
    deadline = time.monotonic() + 20
    started = time.monotonic()
    while collector.metric(name, **labels) < value:
        assert time.monotonic() < deadline, f"{name}{labels} never reached {value}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def _dead_letter_lines(collector: Collector) -> list[str]:
    listed = collector.cli("spool", "dead-letters")
    assert listed.returncode == 0, listed.stderr
    return [line for line in listed.stdout.splitlines() if line != "no dead letters"]


async def test_refused_batches_are_dead_lettered_after_one_attempt_and_redriven(
    clickhouse: ClickHouseServer, make_collector: Callable[..., Collector]
) -> None:
    collector = make_collector(clickhouse)
    collector.start()

    # 1. The server refuses the insert: a column the writer sends no longer exists.
    query(clickhouse, "ALTER TABLE events_data DROP COLUMN props")
    first = make_requests(collector.data_dir, beacons=12, beacon_batch=12, prefix="unknown")
    outcome = await run_load(collector.url, first)
    assert len(outcome.acked) == 12
    took = await _wait_metric(
        collector, "ashiato_writer_dropped_rows_total", 12, reason="dead_letter"
    )
    log_time("acknowledged to dead-lettered (unknown column)", took)
    assert collector.metric("ashiato_writer_retries_total", reason="unavailable") == 0
    lines = _dead_letter_lines(collector)
    assert len(lines) == 1 and "\t12 rows\t" in lines[0], lines
    assert "props" in lines[0] and "code 16" in lines[0], lines[0]

    # 2. The driver cannot encode the values for the column's new type.
    query(clickhouse, "ALTER TABLE events_data MODIFY COLUMN asn String")
    second = make_requests(collector.data_dir, pixels=7, prefix="mistyped")
    outcome2 = await run_load(collector.url, second)
    assert len(outcome2.acked) == 7
    await _wait_metric(collector, "ashiato_writer_dropped_rows_total", 19, reason="dead_letter")
    assert collector.metric("ashiato_writer_retries_total", reason="unavailable") == 0
    lines = _dead_letter_lines(collector)
    assert len(lines) == 2 and "\t7 rows\t" in lines[1], lines
    status = collector.cli("spool", "status")
    assert "2 dead letter(s)" in status.stdout, status.stdout

    # Later events are not held up behind the refused ones.
    query(clickhouse, "ALTER TABLE events_data MODIFY COLUMN asn UInt32")
    query(clickhouse, "ALTER TABLE events_data ADD COLUMN props String")
    third = make_requests(collector.data_dir, pixels=5, prefix="fixed")
    outcome3 = await run_load(collector.url, third)
    await wait_for_markers(clickhouse, outcome3.acked)
    assert not stored_markers(clickhouse).keys() & (outcome.acked | outcome2.acked)

    # 3. With the table fixed, redrive puts the dead letters in, once.
    redriven = collector.cli("spool", "redrive")
    assert redriven.returncode == 0, redriven.stderr
    assert "re-inserted 19 rows" in redriven.stdout, redriven.stdout
    assert _dead_letter_lines(collector) == []
    again = collector.cli("spool", "redrive")
    assert "re-inserted 0 rows" in again.stdout
    assert_exactly_once(clickhouse, outcome.acked | outcome2.acked | outcome3.acked)
    code, _ = await asyncio.to_thread(collector.stop)
    assert code == 0


async def test_a_network_failure_is_retried_until_the_batch_lands(
    clickhouse: ClickHouseServer, make_collector: Callable[..., Collector]
) -> None:
    collector = make_collector(clickhouse)
    collector.start()
    await asyncio.to_thread(clickhouse.stop)
    # One request of 25 events: few wake-ups of the writer.
    requests = make_requests(collector.data_dir, beacons=25, beacon_batch=25)
    outcome = await run_load(collector.url, requests)
    assert len(outcome.acked) == 25 and not outcome.bad_answers
    await _wait_metric(collector, "ashiato_writer_retries_total", 2, reason="unavailable")
    started = time.monotonic()
    await asyncio.to_thread(clickhouse.start)
    await wait_for_markers(clickhouse, outcome.acked, timeout=60)
    took = time.monotonic() - started
    log_time("ClickHouse back to all 25 events in", took)
    assert took < 10
    assert collector.metric("ashiato_writer_retries_total", reason="unavailable") >= 2
    assert collector.metric("ashiato_writer_dropped_rows_total", reason="dead_letter") == 0
    assert _dead_letter_lines(collector) == []
    assert_exactly_once(clickhouse, outcome.acked)
    code, _ = await asyncio.to_thread(collector.stop)
    assert code == 0


async def test_retries_back_off_while_hits_keep_arriving(
    clickhouse: ClickHouseServer, make_collector: Callable[..., Collector]
) -> None:
    collector = make_collector(clickhouse)
    collector.start()
    await asyncio.to_thread(clickhouse.stop)
    requests = make_requests(collector.data_dir, pixels=200)
    outcome = await run_load(collector.url, requests, concurrency=4, rate=100)
    assert len(outcome.acked) == 200
    retries = collector.metric("ashiato_writer_retries_total", reason="unavailable")
    print(f"[reliability] {int(retries)} insert attempts in 2 s of outage at 100 hits/s")
    # Backing off from 0.1 s and doubling, 2 s of outage allow well under 20 attempts. With
    # one attempt per hit the attempt count also drives the next delay to its 30 s cap, so
    # once ClickHouse is back nothing lands for 15-30 s unless new hits wake the writer.
    assert retries <= 20
