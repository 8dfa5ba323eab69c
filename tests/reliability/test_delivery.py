"""Every channel under concurrent load lands in ClickHouse once per event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.clickhouse_server import ClickHouseServer
from tests.reliability.conftest import (
    Collector,
    assert_exactly_once,
    log_time,
    make_requests,
    query,
    run_load,
    wait_for_markers,
)

pytestmark = pytest.mark.server


async def test_ten_thousand_events_across_every_channel_land_exactly_once(
    clickhouse: ClickHouseServer, make_collector: Callable[..., Collector]
) -> None:
    collector = make_collector(clickhouse)
    collector.start()
    requests = make_requests(
        collector.data_dir, pixels=4000, beacons=4000, beacon_batch=4, opens=1000, clicks=1000
    )
    started = time.monotonic()
    outcome = await run_load(collector.url, requests, concurrency=32)
    sent = time.monotonic() - started
    log_time(f"sent {len(requests)} requests (10,000 events)", sent)

    assert not outcome.bad_answers, outcome.bad_answers[:5]
    assert not outcome.unanswered and not outcome.refused
    assert len(outcome.acked) == 10_000
    assert dict(outcome.statuses) == {
        ("pixel", 200): 4000,
        ("beacon", 204): 1000,
        ("open", 200): 1000,
        ("click", 302): 1000,
    }
    await wait_for_markers(clickhouse, outcome.acked)
    log_time("until all 10,000 were in ClickHouse", time.monotonic() - started)

    assert query(clickhouse, "SELECT count(), uniqExact(event_id) FROM events") == [
        (10_000, 10_000)
    ]
    found = assert_exactly_once(clickhouse, outcome.acked)
    assert query(clickhouse, "SELECT count() FROM events_data") == [(10_000,)]
    assert set(found) == outcome.acked
    kinds: dict[str, Any] = dict(
        query(clickhouse, "SELECT kind, count() FROM events GROUP BY kind")
    )
    assert kinds == {"pageview": 4000, "event": 4000, "email_open": 1000, "email_click": 1000}
    # The loader publishes its gauges every second: the last acknowledgement shows within it.
    deadline = time.monotonic() + 5
    while collector.metric("ashiato_writer_queue_rows") != 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert collector.metric("ashiato_writer_queue_rows") == 0
    code, _ = collector.stop()
    assert code == 0
