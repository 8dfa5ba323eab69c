"""The application factory: one place wires configuration, storage, writer and routes."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ashiato.beacon.consent import ConsentPolicy
from ashiato.beacon.geo import GeoLookup
from ashiato.beacon.netaddr import TrustedProxies
from ashiato.beacon.pipeline import Enricher
from ashiato.beacon.referrer import ReferrerClassifier
from ashiato.beacon.useragent import UserAgentParser
from ashiato.collector import admin, collect
from ashiato.collector.appkeys import (
    BATCHER,
    CONFIG,
    CORS,
    ENRICHER,
    METRICS,
    RDNS,
    SECRETS,
    STORE,
    TOKENS,
    WRITER,
)
from ashiato.collector.auth import TokenStore
from ashiato.collector.background import background_ctx
from ashiato.collector.batching import TurnBatcher
from ashiato.collector.config import WORKER_ENV, Config
from ashiato.collector.cors import CorsPolicy
from ashiato.collector.listener import guard_middleware
from ashiato.collector.malformed import MAX_FIELD_SIZE, ServerLog, parser_url_limit, url_limit
from ashiato.collector.metrics import Metrics
from ashiato.collector.rdns import ReverseDNS
from ashiato.collector.secrets import LiveSecrets
from ashiato.collector.syslog_server import syslog_ctx
from ashiato.storage.backend import Store, connection
from ashiato.storage.cluster import ClusterStore
from ashiato.storage.errors import StorageUnavailable
from ashiato.storage.schema import EVENT_RECORD, EVENTS_TABLE, SINGLE, Layout, migrate
from ashiato.storage.spool import Spool
from ashiato.storage.writer import BatchWriter, WriterObserver

log = logging.getLogger(__name__)


def prepare_storage(store: Store) -> None:
    """Create the database and apply pending migrations (blocking; run off the loop).

    On a cluster every server gets its local tables and the Distributed tables over them.
    """
    if isinstance(store, ClusterStore):
        layout = store.layout()
        for node in store.node_stores():
            _migrate_one(node, layout)
        return
    _migrate_one(store, SINGLE)


def _migrate_one(store: Store, layout: Layout) -> None:
    store.ensure_database()
    with connection(store) as backend:
        applied = migrate(backend, layout=layout)
    for migration in applied:
        log.info("applied migration %d: %s", migration.version, migration.name)


def spool_directory(config: Config) -> Path:
    """This process's spool: one directory per worker, so workers never share segments."""
    return config.data_dir / "spool" / f"worker-{os.environ.get(WORKER_ENV, '0')}"


def open_spool(config: Config, directory: Path | None = None) -> Spool:
    """A durable spool of event rows, per the storage settings (this worker's by default)."""
    storage = config.storage
    return Spool(
        directory or spool_directory(config),
        columns=EVENT_RECORD,
        segment_bytes=storage.spool_segment_mb << 20,
        max_bytes=storage.spool_max_mb << 20,
        fsync=storage.fsync,
        fsync_interval=storage.fsync_interval_ms / 1000,
    )


def event_writer(
    config: Config, store: Store, spool: Spool, observer: WriterObserver | None = None
) -> BatchWriter:
    """The batch writer of event rows over `spool`, per the storage settings."""
    return BatchWriter(
        store,
        EVENTS_TABLE,
        spool,
        max_rows=config.storage.batch_rows,
        max_delay=config.storage.batch_ms / 1000,
        observer=observer,
    )


async def _prepare_then_start(store: Store, writer: BatchWriter, first_error: str) -> None:
    """Migrate, retrying while ClickHouse is away, then start inserting what was spooled."""
    delay = 0.5
    error = first_error
    while True:
        # Hits are still acknowledged into the spool meanwhile; nothing is lost.
        log.error("storage not ready, spooling until it is (retry in %.1fs): %s", delay, error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
        try:
            await asyncio.to_thread(prepare_storage, store)
            break
        except StorageUnavailable as exc:
            error = str(exc)
    writer.start()


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the spooled batch writer once the schema is in place; drain it on shutdown."""
    config, store, metrics = app[CONFIG], app[STORE], app[METRICS]
    spool = await asyncio.to_thread(open_spool, config)
    writer = event_writer(config, store, spool, metrics)
    metrics.watch_spool(spool, writer)
    app[WRITER] = writer
    app[BATCHER] = TurnBatcher(writer)
    starting: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(prepare_storage, store)
        writer.start()
    except StorageUnavailable as exc:
        # Serve from the spool at once; the writer starts when ClickHouse answers.
        starting = asyncio.create_task(_prepare_then_start(store, writer, str(exc)))
    yield
    if starting is not None:
        starting.cancel()
    waiting = writer.depth
    if waiting:
        log.info(
            "stopping: inserting %d spooled rows (up to %gs)", waiting, config.storage.drain_seconds
        )
    left = await asyncio.to_thread(writer.stop, config.storage.drain_seconds)
    spool.close()
    log.info(
        "stopped: %d rows stored since start, %d drained at shutdown; %s",
        metrics.stored_rows,
        max(0, waiting - left),
        f"{left} rows left in the spool for the next start" if left else "the spool is empty",
    )


def build_enricher(config: Config, visitor_key: bytes) -> Enricher:
    """Compile every enrichment setting once: parsers, MaxMind readers, proxy list, keys."""
    consent, collection = config.consent, config.collection
    return Enricher(
        policy=ConsentPolicy(
            regime=consent.consent_regime,
            opt_out_purposes=consent.opt_out_purposes,
            honor_gpc=consent.honor_gpc,
            honor_dnt=consent.honor_dnt,
            version=consent.policy_version,
        ),
        user_agents=UserAgentParser(),
        geo=GeoLookup.open(collection.geoip_city_db or None, collection.geoip_asn_db or None),
        referrers=ReferrerClassifier(collection.own_hosts),
        trusted_proxies=TrustedProxies.from_cidrs(collection.trusted_proxies),
        visitor_key=visitor_key,
        keep_full_ip=consent.security_window_days > 0,
        max_field_length=config.server.max_field_length,
        automation=collection.automation_rules,
    )


async def _enrichment_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load keys and open the enrichment readers; close them on shutdown."""
    config = app[CONFIG]
    app[SECRETS] = await asyncio.to_thread(LiveSecrets, config.data_dir)
    enricher = await asyncio.to_thread(build_enricher, config, app[SECRETS].visitor_key)
    app[ENRICHER] = enricher
    rdns = ReverseDNS() if config.collection.reverse_dns else None
    app[RDNS] = rdns
    yield
    if rdns is not None:
        await rdns.close()
    enricher.geo.close()


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers. No I/O."""
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    """Readiness: storage answers a trivial query."""
    store = request.app[STORE]

    def _check() -> None:
        with connection(store) as backend:
            backend.query("SELECT 1")

    try:
        await asyncio.wait_for(asyncio.to_thread(_check), timeout=5)
    except Exception as exc:
        return web.Response(status=503, text=f"storage not ready: {type(exc).__name__}\n")
    return web.Response(text="ready\n")


async def metrics_handler(request: web.Request) -> web.Response:
    """Prometheus exposition of the app's registry (of all workers', with several)."""
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """With several workers, keep this worker's gauges in the shared files fresh."""
    metrics = app[METRICS]
    if not metrics.multiprocess:
        yield
        return

    async def refresh() -> None:
        while True:
            metrics.refresh()
            await asyncio.sleep(1)

    task = asyncio.create_task(refresh())
    yield
    task.cancel()


def handler_args(config: Config, metrics: Metrics) -> dict[str, Any]:
    """aiohttp's per-connection parser limits and error log, shared by the app and the
    guarded listener."""
    return {
        "max_line_size": parser_url_limit(config.server.max_url_length),
        "max_field_size": MAX_FIELD_SIZE,
        "logger": ServerLog(metrics.rejected),
    }


def create_app(
    config: Config, *, store: Store, registry: CollectorRegistry | None = None
) -> web.Application:
    """Build the collector application around `store`, reporting into `registry`."""
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    app = web.Application(
        # Admin uploads (log chunks) may be large; public endpoints enforce their own limits.
        client_max_size=16 << 20,
        handler_args=handler_args(config, metrics),
        middlewares=[guard_middleware, url_limit],
    )
    app[CONFIG] = config
    app[STORE] = store
    app[METRICS] = metrics
    app[CORS] = CorsPolicy.from_config(config.collection)
    app[TOKENS] = TokenStore(config.data_dir)
    app.cleanup_ctx.append(_enrichment_ctx)
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(syslog_ctx)
    app.cleanup_ctx.append(_metrics_ctx)
    app.cleanup_ctx.append(background_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    collect.add_routes(app)
    admin.add_routes(app)
    return app
