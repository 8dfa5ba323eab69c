"""The application factory: one place wires configuration, storage, writer and routes."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ashiato.beacon.consent import ConsentPolicy
from ashiato.beacon.geo import GeoLookup
from ashiato.beacon.netaddr import TrustedProxies
from ashiato.beacon.pipeline import Enricher
from ashiato.beacon.raw import RAW_LAYOUT
from ashiato.beacon.referrer import ReferrerClassifier
from ashiato.beacon.useragent import UserAgentParser
from ashiato.collector import admin, collect, mail, notice_route, passthrough
from ashiato.collector.appkeys import (
    BATCHER,
    CONFIG,
    CORS,
    ENRICHER,
    METRICS,
    RDNS,
    ROLE,
    SECRETS,
    SHAPER,
    STORE,
    SUPPRESSED,
    TOKENS,
    WRITER,
)
from ashiato.collector.auth import TokenStore
from ashiato.collector.background import Suppressed, background_ctx, load_suppressed
from ashiato.collector.batching import TurnBatcher
from ashiato.collector.config import LOADER_ENV, WORKER_ENV, Config
from ashiato.collector.cors import CorsPolicy
from ashiato.collector.listener import guard_middleware
from ashiato.collector.loader import Appender, WriterGroup, adopt_spools
from ashiato.collector.malformed import MAX_FIELD_SIZE, ServerLog, parser_url_limit, url_limit
from ashiato.collector.metrics import Metrics
from ashiato.collector.rdns import ReverseDNS
from ashiato.collector.roles import HANDOFF_SECONDS, LOADER_POLL_SECONDS, Role
from ashiato.collector.secrets import LiveSecrets
from ashiato.collector.shaping import RawShaper
from ashiato.collector.syslog_server import syslog_ctx
from ashiato.storage.backend import Store, connection
from ashiato.storage.cluster import ClusterStore
from ashiato.storage.errors import StorageUnavailable
from ashiato.storage.handoff import EdgeSpool, LoaderSpool
from ashiato.storage.schema import EVENTS_TABLE, SINGLE, Layout, migrate
from ashiato.storage.spool import Spool
from ashiato.storage.writer import BatchWriter, Shaper, WriterObserver

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


def loader_spool_directory(config: Config) -> Path:
    """The loader's own spool, for the log lines it takes in itself (admin API, syslog)."""
    return config.data_dir / "spool" / f"loader-{os.environ.get(LOADER_ENV, '0')}"


def open_spool(config: Config, directory: Path | None = None, kind: type[Spool] = Spool) -> Spool:
    """A durable spool of raw records, per the storage settings (this worker's by default)."""
    storage = config.storage
    return kind(
        directory or spool_directory(config),
        columns=RAW_LAYOUT,
        segment_bytes=storage.spool_segment_mb << 20,
        max_bytes=storage.spool_max_mb << 20,
        fsync=storage.fsync,
        fsync_interval=storage.fsync_interval_ms / 1000,
    )


def event_writer(
    config: Config,
    store: Store,
    spool: Spool,
    shaper: Shaper,
    observer: WriterObserver | None = None,
    poll: float | None = None,
) -> BatchWriter:
    """The batch writer of the events table over `spool`, per the storage settings."""
    return BatchWriter(
        store,
        EVENTS_TABLE,
        spool,
        max_rows=config.storage.batch_rows,
        max_delay=config.storage.batch_ms / 1000,
        observer=observer,
        shaper=shaper,
        poll=poll,
    )


async def _prepare_then_start(store: Store, start: Callable[[], None], first_error: str) -> None:
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
    start()


async def _adopt_spools(app: web.Application, group: WriterGroup) -> None:
    """The loader's round: take in every spool directory no other process reads."""
    config, store, metrics = app[CONFIG], app[STORE], app[METRICS]
    shaper = app[SHAPER]

    def make(spool: LoaderSpool) -> BatchWriter:
        return event_writer(config, store, spool, shaper, metrics, poll=LOADER_POLL_SECONDS)

    root = config.data_dir / "spool"
    while True:
        await asyncio.to_thread(adopt_spools, group, root, make)
        await asyncio.sleep(1)


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    """Insert from the spools (this process's own, and the edges' in a loader) once the
    schema is in place; drain on shutdown."""
    config, store, metrics = app[CONFIG], app[STORE], app[METRICS]
    loader = app[ROLE] == "loader"
    app[SUPPRESSED] = Suppressed(partial(asyncio.to_thread, load_suppressed, store))
    shaper = RawShaper(app[ENRICHER], metrics, metrics.enriched)
    app[SHAPER] = shaper
    directory = loader_spool_directory(config) if loader else spool_directory(config)
    spool = await asyncio.to_thread(open_spool, config, directory)
    writer = event_writer(config, store, spool, shaper, metrics)
    group = WriterGroup(writer, spool)
    metrics.watch_spools(group)
    app[WRITER] = group
    app[BATCHER] = TurnBatcher(group)
    tasks: list[asyncio.Task[None]] = []

    if loader:
        # Spools are adopted (and counted) at once; their writers start with the others.
        tasks.append(asyncio.create_task(_adopt_spools(app, group)))

    def start() -> None:
        group.start()

    try:
        await asyncio.to_thread(prepare_storage, store)
        start()
    except StorageUnavailable as exc:
        # Serve from the spool at once; the writer starts when ClickHouse answers.
        tasks.append(asyncio.create_task(_prepare_then_start(store, start, str(exc))))
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    waiting = group.depth
    if waiting:
        log.info(
            "stopping: inserting %d spooled rows (up to %gs)", waiting, config.storage.drain_seconds
        )
    left = await asyncio.to_thread(group.stop, config.storage.drain_seconds)
    log.info(
        "stopped: %d rows stored since start, %d drained at shutdown; %s",
        metrics.stored_rows,
        max(0, waiting - left),
        f"{left} rows left in the spool for the next start" if left else "the spool is empty",
    )


async def _edge_spool_ctx(app: web.Application) -> AsyncIterator[None]:
    """An edge's spool: append before answering, hand segments to the loader as they fill."""
    config, metrics = app[CONFIG], app[METRICS]
    spool = await asyncio.to_thread(open_spool, config, None, EdgeSpool)
    assert isinstance(spool, EdgeSpool)
    appender = Appender(spool, metrics)
    app[BATCHER] = TurnBatcher(appender)
    interval = min(config.storage.batch_ms / 1000, HANDOFF_SECONDS)

    async def hand_over() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(spool.handoff)
            except OSError as exc:
                log.error("could not hand a spool segment over: %s", exc)

    task = asyncio.create_task(hand_over())
    yield
    appender.stopping = True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.to_thread(spool.close)


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
    config: Config,
    *,
    store: Store | None,
    registry: CollectorRegistry | None = None,
    role: Role = "all",
) -> web.Application:
    """Build the collector application around `store`, reporting into `registry`.

    `role` says which part of the collector this process is (`collector.roles`): an edge
    answers and spools and needs no store; a loader inserts and serves the admin API; "all"
    does both in one process.
    """
    metrics = Metrics(registry if registry is not None else CollectorRegistry())
    app = web.Application(
        # Admin uploads (log chunks) may be large; public endpoints enforce their own limits.
        client_max_size=16 << 20,
        handler_args=handler_args(config, metrics),
        middlewares=[guard_middleware, url_limit],
    )
    app[CONFIG] = config
    app[METRICS] = metrics
    app[ROLE] = role
    app[CORS] = CorsPolicy.from_config(config.collection)
    app.cleanup_ctx.append(_enrichment_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_handler)
    if role == "edge":
        app.cleanup_ctx.append(_edge_spool_ctx)
        app.cleanup_ctx.append(_metrics_ctx)
        collect.add_routes(app, optout=passthrough.to_loader)
        passthrough.add_routes(app)
        return app
    if store is None:
        raise ValueError(f"a {role} process needs a store")
    app[STORE] = store
    app[TOKENS] = TokenStore(config.data_dir)
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(syslog_ctx)
    app.cleanup_ctx.append(_metrics_ctx)
    app.cleanup_ctx.append(background_ctx)
    app.router.add_get("/readyz", readyz)
    if role == "all":
        collect.add_routes(app)
    else:
        mail.add_loader_routes(app)
        passthrough.add_loader_routes(app)
    admin.add_routes(app)
    notice_route.add_routes(app)
    return app
