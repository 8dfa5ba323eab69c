"""A damaged spool: every record whose checksum holds still lands, the damage is counted."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from ashiato.storage._records import decode_record
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


def records_of(segment: Path) -> list[tuple[int, int, str]]:
    """(start, end, event marker) of each record in a segment file."""
    data = segment.read_bytes()
    header = read_header(data, segment)  # its length depends on the column list it carries
    found, pos = [], header.start
    while pos < len(data):
        length, _, _ = RECORD_HEADER.unpack_from(data, pos)
        end = pos + RECORD_HEADER.size + length
        row = decode_record(data[pos + RECORD_HEADER.size : end], header.columns)
        found.append((pos, end, marker_of(row["campaign"], row["url"])))
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

    segments = sorted(collector.spool_dir.glob("seg-*.log"))
    assert len(segments) == 1
    segment = segments[0]
    records = records_of(segment)
    assert {m for _, _, m in records} == outcome.acked
    bad_crc, zero_length, truncated = records[75], records[150], records[-1]
    with open(segment, "r+b") as file:
        file.seek(bad_crc[0] + 4)
        crc = file.read(1)[0]
        file.seek(bad_crc[0] + 4)
        file.write(bytes([crc ^ 0x10]))  # one bit of the checksum
        file.seek(zero_length[0])
        file.write(b"\0\0\0\0")  # the length field
        file.truncate(truncated[1] - 5)  # the last record loses its last bytes
    lost = {bad_crc[2], zero_length[2], truncated[2]}
    valid = outcome.acked - lost

    status = collector.cli("spool", "status")
    assert status.returncode == 0, status.stderr
    assert f"{len(valid)} rows waiting" in status.stdout, status.stdout
    assert "3 corrupt region(s)" in status.stdout, status.stdout

    await asyncio.to_thread(clickhouse.start)
    log_time("restart until ready", collector.start())
    await wait_for_markers(clickhouse, valid)
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
