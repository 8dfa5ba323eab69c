"""A damaged spool: every record whose checksum holds still lands, the damage is counted."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from ashiato.beacon import raw
from ashiato.beacon.raw import decode_raw
from ashiato.storage._segments import read_header
from tests.clickhouse_server import ClickHouseServer
from tests.reliability.conftest import (
    Collector,
    assert_exactly_once,
    log_time,
    make_requests,
    marker_of,
    run_load,
    stored_markers,
    wait_for_markers,
)

pytestmark = pytest.mark.server

RECORD_HEADER = struct.Struct("<IIQ")  # length LE | CRC32 | append time ms LE


def records_of(segment: Path) -> list[tuple[Path, int, int, str]]:
    """(segment, start, end, event marker) of each raw record in a segment file."""
    data = segment.read_bytes()
    header = read_header(data, segment)  # its length depends on the layout it carries
    assert header.columns is not None
    found, pos = [], header.start
    while pos < len(data):
        length, _, _ = RECORD_HEADER.unpack_from(data, pos)
        end = pos + RECORD_HEADER.size + length
        values = decode_raw(data[pos + RECORD_HEADER.size : end], header.columns)
        found.append((segment, pos, end, marker_of(values[raw.CAMPAIGN], values[raw.URL])))
        pos = end
    assert pos == len(data)
    return found


async def test_corrupt_records_are_skipped_and_counted_the_rest_lands(
    clickhouse: ClickHouseServer, make_collector: Callable[..., Collector]
) -> None:
    collector = make_collector(clickhouse, "--drain-seconds", "1")
    collector.start()
    await asyncio.to_thread(clickhouse.stop)
    requests = make_requests(collector.data_dir, pixels=100, beacons=100, opens=50, clicks=50)
    outcome = await run_load(collector.url, requests, concurrency=8)
    assert len(outcome.acked) == 300
    code, took = await asyncio.to_thread(collector.stop)
    assert code == 0
    log_time("SIGTERM to exit with ClickHouse down (--drain-seconds 1)", took)

    # The edge handed segments over as it went; none was loaded, ClickHouse being down.
    records = [r for s in sorted(collector.spool_dir.glob("seg-*.log")) for r in records_of(s)]
    assert {m for *_, m in records} == outcome.acked
    bad_crc, zero_length, truncated = records[75], records[150], records[-1]
    with open(bad_crc[0], "r+b") as file:
        file.seek(bad_crc[1] + 4)
        crc = file.read(1)[0]
        file.seek(bad_crc[1] + 4)
        file.write(bytes([crc ^ 0x10]))  # one bit of the checksum
    with open(zero_length[0], "r+b") as file:
        file.seek(zero_length[1])
        file.write(b"\0\0\0\0")  # the length field
    with open(truncated[0], "r+b") as file:
        file.truncate(truncated[2] - 5)  # the last record loses its last bytes
    lost = {bad_crc[3], zero_length[3], truncated[3]}
    valid = outcome.acked - lost

    status = collector.cli("spool", "status")
    assert status.returncode == 0, status.stderr
    assert f"{len(valid)} rows waiting" in status.stdout, status.stdout
    assert "3 corrupt region(s)" in status.stdout, status.stdout

    await asyncio.to_thread(clickhouse.start)
    log_time("restart until ready", collector.start())
    await wait_for_markers(clickhouse, valid)
    # The loader publishes its gauges every second.
    for _ in range(50):
        if collector.metric("ashiato_spool_corrupt_records") == 3:
            break
        await asyncio.sleep(0.1)
    assert collector.metric("ashiato_spool_corrupt_records") == 3
    found = assert_exactly_once(clickhouse, valid)
    assert found.keys() == valid
    assert collector.metric("ashiato_writer_dropped_rows_total", reason="undecodable") == 0

    # The damaged segment is released once its valid records are in; new hits still flow.
    more = await run_load(collector.url, make_requests(collector.data_dir, pixels=10, prefix="n"))
    await wait_for_markers(clickhouse, valid | more.acked)
    assert stored_markers(clickhouse).keys() == valid | more.acked
    status = collector.cli("spool", "status")
    assert "0 rows waiting" in status.stdout, status.stdout
    code, _ = await asyncio.to_thread(collector.stop)
    assert code == 0
