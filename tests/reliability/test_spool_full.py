"""The spool's bound reached while ClickHouse is down: pixels still answer, drops are counted."""

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
    run_load,
    stored_markers,
    wait_for_markers,
)

pytestmark = pytest.mark.server


async def test_full_spool_keeps_pixels_answering_and_counts_every_drop(
    clickhouse: ClickHouseServer,
    make_collector: Callable[..., Collector],
    background: Callable[..., asyncio.Task[Outcome]],
) -> None:
    collector = make_collector(clickhouse, "--spool-max-mb", "1", "--spool-segment-mb", "1")
    collector.start()
    await asyncio.to_thread(clickhouse.stop)

    # ~2 KiB page URLs make each spooled event ~3 KiB: 1,200 of them are three spools' worth.
    requests = make_requests(collector.data_dir, pixels=600, beacons=600, beacon_batch=1, pad=1900)
    outcome = await run_load(collector.url, requests, concurrency=8)

    assert not outcome.unanswered
    assert not outcome.bad_answers, outcome.bad_answers[:5]  # every 503 had a Retry-After
    pixel_answers = {status for kind, status in outcome.statuses if kind == "pixel"}
    assert pixel_answers == {200}  # and 43 bytes of GIF each, or it would be a bad answer
    refused_beacons = outcome.statuses[("beacon", 503)]
    assert refused_beacons > 100
    assert outcome.statuses[("beacon", 204)] > 50
    assert outcome.statuses[("beacon", 503)] + outcome.statuses[("beacon", 204)] == 600
    # The loader publishes its gauges every second, of the segments the edge handed over.
    for _ in range(50):
        spool_bytes = collector.metric("ashiato_spool_bytes")
        if spool_bytes > 0.9 * (1 << 20):
            break
        await asyncio.sleep(0.1)
    assert 0.9 * (1 << 20) < spool_bytes <= 1 << 20

    dropped = collector.metric("ashiato_writer_dropped_rows_total", reason="spool_full")
    not_accepted = collector.metric("ashiato_rejected_total", reason="not_accepted")
    assert dropped == not_accepted > refused_beacons

    # A pixel answers 200 whether or not it kept the hit: only the 204s acknowledge.
    pixel_markers = {m for r in requests if r.kind == "pixel" for m in r.markers}
    acked = outcome.acked - pixel_markers
    assert len(acked) == outcome.statuses[("beacon", 204)]
    ch_started = time.monotonic()
    await asyncio.to_thread(clickhouse.start)
    # Traffic goes on once ClickHouse is back (a few beacons a second), as on a real site.
    tail, stop = Outcome(), asyncio.Event()
    more = make_requests(collector.data_dir, beacons=600, beacon_batch=1, prefix="tail")
    trickle = background(collector.url, more, concurrency=2, rate=20, stop=stop, outcome=tail)
    await wait_for_markers(clickhouse, acked, timeout=60)
    # The spool is empty again before counting what the pixels got in.
    deadline = time.monotonic() + 30
    while collector.metric("ashiato_writer_queue_rows") > 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    log_time(
        "drain of a full 1 MiB spool after ClickHouse came back", time.monotonic() - ch_started
    )
    stop.set()
    await trickle
    await wait_for_markers(clickhouse, acked | tail.acked)
    assert len(tail.acked) > 0 and not tail.unanswered and not tail.bad_answers

    found = assert_exactly_once(clickhouse, acked | tail.acked)
    pixels_stored = len(pixel_markers & found.keys())
    assert found.keys() - pixel_markers == acked | tail.acked
    # Each pixel that answered without storing its hit, and each refused beacon, is counted.
    refused_beacons += tail.statuses[("beacon", 503)]
    dropped = collector.metric("ashiato_writer_dropped_rows_total", reason="spool_full")
    assert dropped == collector.metric("ashiato_rejected_total", reason="not_accepted")
    assert dropped == (600 - pixels_stored) + refused_beacons
    print(
        f"[reliability] spool full: {pixels_stored}/600 pixels and "
        f"{600 - refused_beacons}/600 beacons stored; {int(dropped)} drops counted"
    )

    # With room again, hits are accepted again.
    after = make_requests(collector.data_dir, pixels=20, beacons=20, prefix="after")
    again = await run_load(collector.url, after)
    assert len(again.acked) == 40 and not again.refused
    await wait_for_markers(clickhouse, again.acked)
    assert len(stored_markers(clickhouse).keys() & again.acked) == 40
    code, _ = await asyncio.to_thread(collector.stop)
    assert code == 0


async def test_every_event_of_a_refused_beacon_batch_is_counted(
    clickhouse: ClickHouseServer, make_collector: Callable[..., Collector]
) -> None:
    collector = make_collector(clickhouse, "--spool-max-mb", "1", "--spool-segment-mb", "1")
    collector.start()
    await asyncio.to_thread(clickhouse.stop)
    fill = make_requests(collector.data_dir, pixels=600, pad=1900, prefix="fill")
    await run_load(collector.url, fill, concurrency=8)
    dropped = collector.metric("ashiato_writer_dropped_rows_total", reason="spool_full")
    rejected = collector.metric("ashiato_rejected_total", reason="not_accepted")
    assert dropped > 0  # the spool is full

    # As large as the pixels that filled it: the room left is less than one of them.
    batch = make_requests(collector.data_dir, beacons=5, beacon_batch=5, pad=1900, prefix="batch")
    outcome = await run_load(collector.url, batch)
    assert outcome.statuses[("beacon", 503)] == 1
    after = collector.metric("ashiato_writer_dropped_rows_total", reason="spool_full")
    rejected_after = collector.metric("ashiato_rejected_total", reason="not_accepted")
    print(f"[reliability] a refused batch of 5 counted {int(after - dropped)} dropped")
    assert (after - dropped, rejected_after - rejected) == (5, 5)
