"""`kill -9` of the collector under load: every acknowledged event arrives exactly once."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
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
    query,
    run_load,
    wait_for_markers,
)

pytestmark = pytest.mark.server


async def crash_and_recover(
    clickhouse: ClickHouseServer,
    collector: Collector,
    background: Callable[..., asyncio.Task[Outcome]],
    *,
    kills: int,
    events_per_kill: int,
    rate: float,
) -> Outcome:
    """Load the collector, SIGKILL it `kills` times mid-load, restart it each time."""
    per_kind = events_per_kill * (kills + 2) // 6
    requests = make_requests(
        collector.data_dir,
        pixels=2 * per_kind,
        beacons=2 * per_kind,
        beacon_batch=4,
        opens=per_kind,
        clicks=per_kind,
    )
    outcome, stop = Outcome(), asyncio.Event()
    load = background(
        collector.url, requests, concurrency=16, rate=rate, stop=stop, outcome=outcome
    )
    # Enough requests for every round; the load stops one round after the last restart.
    seconds_per_round = events_per_kill / 1.5 / rate
    acked_at_kill = [0]
    for _ in range(kills):
        await asyncio.sleep(seconds_per_round)
        collector.process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        await asyncio.to_thread(collector.process.wait)  # type: ignore[union-attr]
        acked_at_kill.append(len(outcome.acked))
        await asyncio.sleep(0.2)
        log_time("restart after kill -9 until ready", await asyncio.to_thread(collector.start))
    await asyncio.sleep(seconds_per_round)
    stop.set()
    await load
    acked_at_kill.append(len(outcome.acked))
    # Every process, killed or not, acknowledged events.
    assert all(a < b for a, b in itertools.pairwise(acked_at_kill)), acked_at_kill
    assert not outcome.bad_answers, outcome.bad_answers[:5]
    assert not outcome.refused
    assert outcome.acked.isdisjoint(outcome.unanswered)
    started = time.monotonic()
    await wait_for_markers(clickhouse, outcome.acked, timeout=120)
    log_time(
        f"after the last restart, until all {len(outcome.acked)} acknowledged events",
        time.monotonic() - started,
    )
    found = assert_exactly_once(clickhouse, outcome.acked)
    # Events that were spooled but whose answer the kill cut off may be there too, once.
    assert found.keys() <= outcome.acked | outcome.unanswered
    print(
        f"[reliability] {kills} kill -9: {len(outcome.acked)} acknowledged, "
        f"{len(outcome.unanswered)} unanswered of which {len(found.keys() & outcome.unanswered)} "
        "were stored anyway (spooled just before the kill)"
    )
    code, _ = await asyncio.to_thread(collector.stop)
    assert code == 0
    return outcome


async def test_kill_9_mid_load_then_restart_loses_and_doubles_nothing(
    clickhouse: ClickHouseServer,
    make_collector: Callable[..., Collector],
    background: Callable[..., asyncio.Task[Outcome]],
) -> None:
    collector = make_collector(clickhouse)
    collector.start()
    await crash_and_recover(
        clickhouse, collector, background, kills=1, events_per_kill=3000, rate=400
    )


@pytest.mark.slow
async def test_soak_repeated_kill_9_under_sustained_load(
    clickhouse: ClickHouseServer,
    make_collector: Callable[..., Collector],
    background: Callable[..., asyncio.Task[Outcome]],
) -> None:
    collector = make_collector(clickhouse, "--batch-rows", "500")
    collector.start()
    await crash_and_recover(
        clickhouse, collector, background, kills=5, events_per_kill=6000, rate=500
    )


async def kill_child_under_load(
    clickhouse: ClickHouseServer,
    collector: Collector,
    background: Callable[..., asyncio.Task[Outcome]],
    role: str,
) -> None:
    """SIGKILL the edge or the loader mid-load; the supervisor starts it again."""
    requests = make_requests(
        collector.data_dir, pixels=1000, beacons=1000, beacon_batch=4, opens=500, clicks=500
    )
    outcome, stop = Outcome(), asyncio.Event()
    load = background(collector.url, requests, concurrency=16, rate=400, stop=stop, outcome=outcome)
    await asyncio.sleep(2)
    victim = collector.child(role)
    os.kill(victim, signal.SIGKILL)
    acked_at_kill = len(outcome.acked)
    await asyncio.sleep(3)  # the supervisor notices within a second and starts another
    assert collector.child(role) != victim
    await asyncio.sleep(2)
    stop.set()
    await load
    assert len(outcome.acked) > acked_at_kill > 0
    assert not outcome.bad_answers, outcome.bad_answers[:5]
    await wait_for_markers(clickhouse, outcome.acked, timeout=120)
    found = assert_exactly_once(clickhouse, outcome.acked)
    assert found.keys() <= outcome.acked | outcome.unanswered
    print(
        f"[reliability] kill -9 of the {role}: {len(outcome.acked)} acknowledged, "
        f"{len(outcome.unanswered)} unanswered"
    )
    code, _ = await asyncio.to_thread(collector.stop)
    assert code == 0


@pytest.mark.parametrize("role", ["edge", "loader"])
async def test_kill_9_of_an_edge_or_the_loader_under_load_loses_and_doubles_nothing(
    clickhouse: ClickHouseServer,
    make_collector: Callable[..., Collector],
    background: Callable[..., asyncio.Task[Outcome]],
    role: str,
) -> None:
    collector = make_collector(clickhouse)
    collector.start()
    await kill_child_under_load(clickhouse, collector, background, role)


async def test_a_replay_of_already_inserted_rows_is_not_double_counted(
    clickhouse: ClickHouseServer, make_collector: Callable[..., Collector]
) -> None:
    # A crash between the insert and the checkpoint write: the loader is held while the edge
    # spools everything, a copy of the spool is kept, and once the rows are in, everything is
    # killed and the copy put back without a checkpoint, so the whole spool is replayed.
    collector = make_collector(clickhouse)
    collector.start()
    loader = collector.child("loader")
    os.kill(loader, signal.SIGSTOP)
    requests = make_requests(collector.data_dir, pixels=400, beacons=400, opens=100, clicks=100)
    outcome = await run_load(collector.url, requests, concurrency=8)
    assert len(outcome.acked) == 1000
    await asyncio.sleep(0.5)  # the edge hands its last segment over
    spooled = {p.name: p.read_bytes() for p in collector.spool_dir.glob("seg-*.log")}
    os.kill(loader, signal.SIGCONT)
    await wait_for_markers(clickhouse, outcome.acked)
    collector.kill()
    for name, data in spooled.items():
        (collector.spool_dir / name).write_bytes(data)
    (collector.spool_dir / "ack.json").unlink()
    collector.start()
    # The new process inserts all 1,000 spooled rows again.
    deadline = time.monotonic() + 30
    while collector.metric("ashiato_writer_batch_rows_sum") < 1000:
        assert time.monotonic() < deadline, "the spool was not replayed"
        await asyncio.sleep(0.1)
    assert collector.metric("ashiato_writer_batch_rows_sum") == 1000
    assert query(clickhouse, "SELECT count(), uniqExact(event_id) FROM events") == [(1000, 1000)]
    found = assert_exactly_once(clickhouse, outcome.acked)
    assert found.keys() == outcome.acked
    code, _ = await asyncio.to_thread(collector.stop)
    assert code == 0
