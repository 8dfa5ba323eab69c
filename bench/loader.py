"""The loader alone: rows per second from an edge's spool to stored, enrichment included.

    .venv/bin/python -m bench.loader [--rows 200000] [--batch 5000]

Raw records of pixel hits (a realistic mix of user agents, addresses, pages and referrers,
with GeoIP files) are spooled the way an edge spools them; then the loader's own code
(`LoaderSpool`, `RawShaper`, `BatchWriter`) inserts them, pinned to one core, into chdb (in
this process, as in embedded mode) and into a ClickHouse server kept on the other core. The
clock stops when the last batch is acknowledged. Targets: 50,000 rows/s into chdb and 40,000
into the server.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import tempfile
import time
from pathlib import Path

from ashiato.beacon.consent import ConsentDecision
from ashiato.beacon.pipeline import Hit, visitor_pseudonym
from ashiato.beacon.raw import RAW_LAYOUT, encode_raw, raw_values
from ashiato.collector.app import build_enricher, prepare_storage
from ashiato.collector.config import load_config
from ashiato.collector.shaping import RawShaper
from ashiato.storage.backend import Store, connection
from ashiato.storage.handoff import EdgeSpool, LoaderSpool
from ashiato.storage.schema import EVENTS_TABLE
from ashiato.storage.writer import BatchWriter, NullObserver
from bench import servers
from bench.ingest import _AGENTS, _REFERRERS
from tests.geo_fixtures import build_geo_databases

_MORE_AGENTS = tuple(
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    f"Chrome/{v}.0.0.0 Safari/537.36"
    for v in range(100, 160)
)
_DECISIONS = (
    ConsentDecision(("necessary",), "default"),
    ConsentDecision(("necessary", "statistics"), "explicit"),
    ConsentDecision(("necessary", "statistics", "personalization", "marketing"), "tcf"),
)


def spool_hits(directory: Path, count: int, seed: int = 5) -> None:
    """`count` raw pixel records in an edge spool at `directory`, handed over in segments."""
    rng = random.Random(seed)
    agents = _AGENTS + _MORE_AGENTS
    spool = EdgeSpool(directory, columns=RAW_LAYOUT, fsync="never")
    now = int(time.time() * 1000)
    records = []
    for i in range(count):
        cookie = f"c{rng.randrange(20_000)}"
        hit = Hit(
            kind="pageview",
            ts_ms=now - rng.randrange(86_400_000),
            source="pixel",
            peer="127.0.0.1",
            x_forwarded_for=f"203.0.113.{rng.randrange(1, 255)}",
            site="shop",
            url=f"https://shop.example/products/{rng.randrange(2000)}?ref=mail",
            referrer=rng.choice(_REFERRERS).replace("-", ""),
            user_agent=rng.choice(agents),
            accept_language="ja,en-US;q=0.8",
            screen="1920x1080",
        )
        decision = rng.choice(_DECISIONS)
        visitor = visitor_pseudonym(cookie, b"k" * 32) if len(decision.purposes) > 2 else None
        records.append(encode_raw(raw_values(hit, decision, visitor)))
        if len(records) == 2000 or i == count - 1:
            spool.append(records)
            spool.handoff()
            records = []
    spool.close()


def load(
    store: Store, directory: Path, config_dir: Path, geo: tuple[Path, Path], batch: int
) -> tuple[float, float]:
    """Insert the spool at `directory` as the loader does; (seconds, CPU seconds)."""
    config = load_config(
        {
            "data_dir": str(config_dir),
            "geoip_city_db": str(geo[0]),
            "geoip_asn_db": str(geo[1]),
            "trusted_proxies": "127.0.0.1/32",
        },
        env={},
    )
    prepare_storage(store)
    shaper = RawShaper(build_enricher(config, b"k" * 32), NullObserver())
    spool = LoaderSpool(directory)
    writer = BatchWriter(
        store, EVENTS_TABLE, spool, max_rows=batch, max_delay=0.05, shaper=shaper, poll=0.05
    )
    cpu, started = time.process_time(), time.perf_counter()
    writer.start()
    writer.flush(600)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    writer.stop()
    spool.close()
    return seconds, cpu


def stored(store: Store) -> int:
    """Rows in the events table."""
    with connection(store) as backend:
        return int(backend.query("SELECT count() FROM events_data").rows[0][0])


def main() -> None:
    """Print the loader's rows/s into chdb and into a ClickHouse server."""
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--only", choices=("embedded", "server"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="ashiato-loader-") as tmp:
        work = Path(tmp)
        geo = build_geo_databases(work)
        with servers.clickhouse(work / "clickhouse", cpus="0") as clickhouse:
            os.sched_setaffinity(0, {1})  # this process is the loader, on core 1
            for name in ("embedded", "server"):
                if args.only and name != args.only:
                    continue
                spool_hits(work / f"spool-{name}", args.rows)
                if name == "embedded":
                    from ashiato.storage.embedded import EmbeddedStore

                    store: Store = EmbeddedStore(work / "chdb", "bench")
                else:
                    from ashiato.storage.native import NativeStore

                    store = NativeStore(clickhouse.url_for("loader"))
                seconds, cpu = load(
                    store, work / f"spool-{name}", work / f"var-{name}", geo, args.batch
                )
                results.append((name, stored(store), seconds, cpu))
                store.close()
    target = {"embedded": 50_000, "server": 40_000}
    print(
        f"\n| loader, one core, batches of {args.batch:,} | rows stored | rows/s | CPU µs/row "
        "| target |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, rows, seconds, cpu in results:
        label = "chdb (embedded)" if name == "embedded" else "ClickHouse server 18.16"
        print(
            f"| {label} | {rows:,} | {rows / seconds:,.0f} | {cpu / rows * 1e6:.1f} "
            f"| {target[name]:,} |"
        )


if __name__ == "__main__":
    main()
