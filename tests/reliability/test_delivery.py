"""Every channel under concurrent load lands in ClickHouse once per event."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    "events",
    [2_000, pytest.param(10_000, marks=pytest.mark.slow)],  # the larger load in test-slow
)
async def test_events_across_every_channel_land_exactly_once(
    clickhouse: ClickHouseServer, make_collector: Callable[..., Collector], events: int
) -> None:
    collector = make_collector(clickhouse)
    collector.start()
    tenth = events // 10
    requests = make_requests(
        collector.data_dir,
        pixels=4 * tenth,
        beacons=4 * tenth,
        beacon_batch=4,
        opens=tenth,
        clicks=tenth,
    )
    started = time.monotonic()
    outcome = await run_load(collector.url, requests, concurrency=32)
    sent = time.monotonic() - started
    log_time(f"sent {len(requests)} requests ({events:,} events)", sent)

    assert not outcome.bad_answers, outcome.bad_answers[:5]
    assert not outcome.unanswered and not outcome.refused
    assert len(outcome.acked) == events
    assert dict(outcome.statuses) == {
        ("pixel", 200): 4 * tenth,
        ("beacon", 204): tenth,
        ("open", 200): tenth,
        ("click", 302): tenth,
    }
    await wait_for_markers(clickhouse, outcome.acked)
    log_time(f"until all {events:,} were in ClickHouse", time.monotonic() - started)

    assert query(clickhouse, "SELECT count(), uniqExact(event_id) FROM events") == [
        (events, events)
    ]
    found = assert_exactly_once(clickhouse, outcome.acked)
    assert query(clickhouse, "SELECT count() FROM events_data") == [(events,)]
    assert set(found) == outcome.acked
    kinds: dict[str, Any] = dict(
        query(clickhouse, "SELECT kind, count() FROM events GROUP BY kind")
    )
    assert kinds == {
        "pageview": 4 * tenth,
        "event": 4 * tenth,
        "email_open": tenth,
        "email_click": tenth,
    }
    assert collector.metric("ashiato_writer_queue_rows") == 0
    code, _ = collector.stop()
    assert code == 0
