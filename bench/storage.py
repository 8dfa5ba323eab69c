"""Storage figures: insert throughput, partition drops and subject erasure.

    .venv/bin/python -m bench.run --storage [--big]

Insert rows/s of ashiato's paths (backend.insert, the batch writer with and without the spool)
next to the raw driver insert of the same rows, into the ClickHouse server and into chdb; the
time to drop one partition of the events table at 1M and 10M rows; the time to erase one
visitor among 1M rows with `retention.erase` (and among 10M with `--big`: that takes long).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ashiato.beacon.columns import COLUMNS
from ashiato.beacon.event import Event
from ashiato.storage.backend import Backend, Store
from ashiato.storage.partitions import drop_partition, list_partitions, week_of
from ashiato.storage.schema import EVENT_RECORD, EVENTS_TABLE, migrate
from ashiato.storage.spool import Spool
from ashiato.storage.writer import BatchWriter, batch_token
from tests.clickhouse_server import ClickHouseServer

INSERT_ROWS = 200_000
BATCH_ROWS = 20_000
COLLECTOR_BATCH_ROWS = 5_000  # the collector's default batch_rows
# Erasure is a mutation rewriting every part on 18.16: minutes. Bounded to keep the run short.
ERASE_TIMEOUT = 240.0

_AGENTS = (
    ("Chrome", "131.0", "Windows", "10", "desktop"),
    ("Mobile Safari", "18.1", "iOS", "18.1", "mobile"),
    ("Chrome Mobile", "131.0", "Android", "14", "mobile"),
    ("Firefox", "133.0", "Linux", "", "desktop"),
    ("Safari", "17.6", "iOS", "17.6", "tablet"),
    ("Googlebot", "2.1", "Other", "", "bot"),
)
_REFERRERS = (
    ("https://www.google.co.jp/", "search", "Google", ""),
    ("https://search.yahoo.co.jp/search?p=東京+ホテル", "search", "Yahoo! Japan", "東京 ホテル"),
    ("https://t.co/Ab12Cd34Ef", "social", "Twitter", ""),
    ("", "direct", "", ""),
)


def sample_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` storage rows shaped like enriched pixel hits of the last day."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    rows = []
    for i in range(count):
        browser, version, os_name, os_version, device = rng.choice(_AGENTS)
        referrer, medium, source, term = rng.choice(_REFERRERS)
        personal = rng.random() < 0.3
        rows.append(
            Event(
                ts_ms=now_ms - rng.randrange(86_400_000),
                kind="pageview",
                site=rng.choice(("shop", "blog", "news")),
                name="pageview",
                url=f"https://shop.example.jp/products/{rng.randrange(5000)}?color=black",
                referrer=referrer,
                ref_medium=medium,
                ref_source=source,
                ref_term=term,
                ip=f"203.0.113.{i % 256}",
                ip_full=f"203.0.113.{i % 256}",
                user_agent=f"Mozilla/5.0 ({os_name}) {browser}/{version}",
                browser=browser,
                browser_version=version,
                os=os_name,
                os_version=os_version,
                device=device,
                is_bot=device == "bot",
                language="ja",
                screen="390x844",
                country="JP",
                region="13",
                city="Tokyo",
                asn=64500,
                as_org="Example Net",
                visitor_id=f"{rng.getrandbits(64):016x}" if personal else None,
                purposes=("necessary", "statistics", "personalization")
                if personal
                else ("necessary", "statistics"),
                consent_signal="explicit",
                policy_version="1",
                retention_class="personalization" if personal else "statistics",
                source="pixel",
            ).to_row()
        )
    return rows


def _batches(rows: list[Any], size: int) -> list[list[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class InsertFigure:
    """One insert measurement."""

    target: str
    method: str
    batch: int
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds


def _fresh(store: Store) -> Backend:
    store.ensure_database()
    backend = store.connect()
    migrate(backend)
    return backend


def _writer_run(store: Store, rows: list[dict[str, Any]], batch: int, spool_dir: Path) -> float:
    """Submit rows one by one as the collector does, then wait until all are inserted."""
    spool = Spool(spool_dir, columns=EVENT_RECORD)
    writer = BatchWriter(store, EVENTS_TABLE, spool, max_rows=batch, max_delay=1.0)
    writer.start()
    started = time.perf_counter()
    for row in rows:
        if not writer.submit([row]):
            raise RuntimeError("the batch writer refused rows")
    if not writer.flush(timeout=600):
        raise RuntimeError("the batch writer did not finish in time")
    seconds = time.perf_counter() - started
    writer.stop()
    spool.close()
    return seconds


def _count(backend: Backend) -> int:
    return int(backend.query(f"SELECT count() FROM {EVENTS_TABLE}").scalar() or 0)


def server_inserts(
    server: ClickHouseServer, rows: list[dict[str, Any]], work: Path
) -> list[InsertFigure]:
    """Raw clickhouse-driver, NativeBackend.insert and the batch writer into the server."""
    from ashiato.storage.native import NativeStore

    figures = []
    tuples = [tuple(row[c] for c in COLUMNS) for row in rows]
    sql = f"INSERT INTO {EVENTS_TABLE} ({', '.join(COLUMNS)}) VALUES"

    store = NativeStore(server.url_for("bench_raw_driver"))
    _fresh(store).close()
    client = server.client("bench_raw_driver")
    seconds = _timed(lambda: [client.execute(sql, b) for b in _batches(tuples, BATCH_ROWS)])
    client.disconnect()
    figures.append(
        InsertFigure("server", "raw clickhouse-driver execute", BATCH_ROWS, len(rows), seconds)
    )

    store = NativeStore(server.url_for("bench_backend"))
    backend = _fresh(store)

    def through_backend() -> None:
        for b in _batches(rows, BATCH_ROWS):
            backend.insert(EVENTS_TABLE, b, COLUMNS, dedup_token=batch_token(b))

    seconds = _timed(through_backend)
    figures.append(InsertFigure("server", "NativeBackend.insert", BATCH_ROWS, len(rows), seconds))
    counts = [_count(backend)]
    backend.close()

    for name, batch in (
        ("BatchWriter + spool", BATCH_ROWS),
        ("BatchWriter + spool", COLLECTOR_BATCH_ROWS),
    ):
        database = f"bench_writer_{batch}"
        store = NativeStore(server.url_for(database))
        backend = _fresh(store)
        seconds = _writer_run(store, rows, batch, work / database)
        counts.append(_count(backend))
        backend.close()
        figures.append(InsertFigure("server", name, batch, len(rows), seconds))
    if any(c != len(rows) for c in counts):
        raise RuntimeError(f"rows went missing: {counts} of {len(rows)}")
    return figures


def chdb_inserts(directory: Path, rows: list[dict[str, Any]]) -> list[InsertFigure]:
    """Raw chdb JSONEachRow, EmbeddedBackend.insert and the batch writer into chdb."""
    from ashiato.storage.embedded import EmbeddedStore

    figures = []
    root = EmbeddedStore(directory, "bench_raw_chdb")
    try:
        _fresh(root).close()

        def raw() -> None:
            head = f"INSERT INTO {EVENTS_TABLE} ({', '.join(COLUMNS)}) FORMAT JSONEachRow\n"
            for b in _batches(rows, BATCH_ROWS):
                body = "\n".join(
                    json.dumps({c: r[c] for c in COLUMNS}, ensure_ascii=False, default=str)
                    for r in b
                )
                root.engine.run("bench_raw_chdb", head + body + "\n")

        figures.append(
            InsertFigure(
                "chdb",
                "raw chdb JSONEachRow (json.dumps timed)",
                BATCH_ROWS,
                len(rows),
                _timed(raw),
            )
        )

        store = EmbeddedStore.sharing(root.engine, "bench_backend")
        backend = _fresh(store)

        def through_backend() -> None:
            for b in _batches(rows, BATCH_ROWS):
                backend.insert(EVENTS_TABLE, b, COLUMNS, dedup_token=batch_token(b))

        seconds = _timed(through_backend)
        figures.append(
            InsertFigure("chdb", "EmbeddedBackend.insert", BATCH_ROWS, len(rows), seconds)
        )

        store = EmbeddedStore.sharing(root.engine, "bench_writer")
        _fresh(store).close()
        seconds = _writer_run(store, rows, BATCH_ROWS, directory / "spool")
        figures.append(InsertFigure("chdb", "BatchWriter + spool", BATCH_ROWS, len(rows), seconds))
    finally:
        root.close()
    return figures


# --- expire and erase ---------------------------------------------------------------------


def _fill(backend: Backend, rows: int, first_week: date) -> float:
    """Generate `rows` events server-side over ten weeks and five retention classes."""
    base_ms = int(
        datetime(first_week.year, first_week.month, first_week.day, tzinfo=UTC).timestamp() * 1000
    )
    sql = f"""INSERT INTO {EVENTS_TABLE}
        (event_id, ts_ms, day, kind, site, name, url, referrer, ip, user_agent, browser, os,
         device, country, city, visitor_id, purposes, retention_class, source)
        SELECT generateUUIDv4(), ts, toDate(toDateTime(intDiv(ts, 1000))), 'pageview',
            ['shop', 'blog', 'news'][number % 3 + 1], 'pageview',
            concat('https://shop.example.jp/products/', toString(number % 5000)),
            'https://www.google.co.jp/', concat('203.0.113.', toString(number % 256)),
            'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)', 'Mobile Safari', 'iOS',
            'mobile', 'JP', 'Tokyo', concat('v', toString(cityHash64(number, 1) % 100000)),
            ['necessary', 'statistics'],
            ['necessary', 'statistics', 'personalization', 'marketing', 'email']
                [cityHash64(number) % 5 + 1],
            'pixel'
        FROM (SELECT number, toUInt64({base_ms} + (number % 70) * 86400000
                                       + intDiv(number, 70) % 86400000) AS ts
              FROM system.numbers LIMIT {rows})"""
    return _timed(lambda: backend.execute(sql))


@dataclass(frozen=True, slots=True)
class RetentionFigure:
    """Partition drops and one erasure on a table of `rows` rows."""

    rows: int
    fill_seconds: float
    partitions: int
    partition_rows: int
    drop_seconds: list[float]
    erase_rows: int
    erase_seconds: float
    erase_note: str


def retention_figures(
    server: ClickHouseServer, rows: int, erase_timeout: float | None
) -> RetentionFigure:
    """Fill a table, erase one visitor (unless no timeout), then drop three partitions."""
    from ashiato.storage.native import NativeStore

    store = NativeStore(server.url_for(f"bench_retention_{rows}"))
    backend = _fresh(store)
    try:
        first_week = week_of(date.today() - timedelta(weeks=12))
        fill_seconds = _fill(backend, rows, first_week)
        partitions = list_partitions(backend)
        visitor = "v42"
        erase_rows = int(
            backend.query(
                f"SELECT count() FROM {EVENTS_TABLE} WHERE visitor_id = %(v)s", {"v": visitor}
            ).scalar()
        )
        if erase_timeout is None:
            erase_rows, erase_seconds, note = 0, 0.0, "not measured at this size (--big)"
        else:
            erase_seconds, note = _erase(backend, visitor, erase_timeout)
        victims = sorted(partitions, key=lambda p: -p.rows)[:3]
        drops = [
            _timed(lambda p=p: drop_partition(backend, p.retention_class, p.week)) for p in victims
        ]
        left = _count(backend)
        expected = rows - erase_rows - sum(p.rows for p in victims)
        if left != expected and "NOT done" not in note:
            raise RuntimeError(f"{left} rows left after drops and erase, expected {expected}")
        return RetentionFigure(
            rows,
            fill_seconds,
            len(partitions),
            int(statistics.median(p.rows for p in victims)),
            drops,
            erase_rows,
            erase_seconds,
            note,
        )
    finally:
        backend.close()


def _erase(backend: Backend, visitor: str, timeout: float) -> tuple[float, str]:
    """Time `retention.erase` when it exists, else a bare DELETE mutation to completion."""
    try:
        from ashiato.retention.erase import erase
    except ImportError:
        erase = None
    if erase is not None:
        started = time.perf_counter()
        result = erase(backend, visitor=visitor, actor="bench", reason="benchmark", timeout=timeout)
        seconds = time.perf_counter() - started
        if not result.deleted:
            return seconds, f"retention.erase: NOT done within its {timeout:.0f} s timeout"
        return seconds, f"retention.erase: deleted, physically removed: {result.physical}"
    from ashiato.retention._mutations import delete_where

    started = time.perf_counter()
    delete_where(
        backend, EVENTS_TABLE, "visitor_id = %(v)s", {"v": visitor}, wait=True, timeout=1800
    )
    return time.perf_counter() - started, "ALTER TABLE … DELETE mutation"


# --- the report ---------------------------------------------------------------------------


def insert_table(figures: list[InsertFigure]) -> str:
    """Inserts as a markdown table, each path against its target's raw insert."""
    raw = {f.target: f.rate for f in figures if f.method.startswith("raw")}
    lines = [
        f"| insert of {figures[0].rows:,} pixel-shaped rows | batch rows | rows/s | vs raw |",
        "|---|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.target}: {f.method} | {f.batch:,} | {f.rate:,.0f} "
            f"| {f.rate / raw[f.target]:.0%} |"
        )
    return "\n".join(lines)


def retention_table(figures: list[RetentionFigure]) -> str:
    """Partition drops and erasures as a markdown table."""
    lines = [
        "| table rows | partitions | rows in a dropped partition | drop_partition (3 drops) "
        "| erase one visitor | its rows | how |",
        "|---:|---:|---:|---|---:|---:|---|",
    ]
    for f in figures:
        drops = ", ".join(f"{s * 1000:.0f} ms" for s in f.drop_seconds)
        lines.append(
            f"| {f.rows:,} | {f.partitions} | {f.partition_rows:,} | {drops} "
            f"| {f.erase_seconds:.1f} s | {f.erase_rows} | {f.erase_note} |"
        )
    return "\n".join(lines)


def run(directory: Path, server: ClickHouseServer, *, big: bool = False) -> str:
    """Every storage figure, printed as it comes and returned as markdown."""
    from bench.servers import pin_all_threads

    directory.mkdir(parents=True, exist_ok=True)
    assert server.process is not None
    pin_all_threads(server.process.pid, "0,1")  # both cores: this is about the database
    rows = sample_rows(INSERT_ROWS)
    figures = server_inserts(server, rows, directory)
    notes = ""
    try:
        figures += chdb_inserts(directory / "chdb", rows)
    except Exception as exc:  # chdb is optional; the server figures still stand
        notes = f"\n\nchdb inserts not measured: {type(exc).__name__}: {exc}"
        print(f"  chdb inserts failed: {type(exc).__name__}: {exc}", flush=True)
    for f in figures:
        print(f"  {f.target}: {f.method}, batch {f.batch:,}: {f.rate:,.0f} rows/s", flush=True)
    retention = []
    plan = [(1_000_000, ERASE_TIMEOUT), (10_000_000, ERASE_TIMEOUT * 10 if big else None)]
    for size, erase_timeout in plan:
        figure = retention_figures(server, size, erase_timeout)
        print(
            f"  {size:,} rows (filled in {figure.fill_seconds:.1f} s): drop_partition "
            f"{', '.join(f'{s * 1000:.0f} ms' for s in figure.drop_seconds)}; erase "
            f"{figure.erase_rows} rows in {figure.erase_seconds:.1f} s ({figure.erase_note})",
            flush=True,
        )
        retention.append(figure)
    return insert_table(figures) + notes + "\n\n" + retention_table(retention)
