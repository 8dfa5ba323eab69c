"""The admin API under /admin/: bearer tokens with scopes, and an audit row per access."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from aiohttp import web

from ashiato.beacon import strictjson
from ashiato.beacon.accesslog import LogFormatError
from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.logurl import BaseUrlError
from ashiato.collector.appkeys import (
    CONFIG,
    ENRICHER,
    METRICS,
    SECRETS,
    STORE,
    SUPPRESSED,
    TOKENS,
    WRITER,
)
from ashiato.collector.auth import TokenRecord
from ashiato.collector.config import ROLE_ENV
from ashiato.collector.hits import read_limited
from ashiato.collector.ingest import LogIngestor, record_ingest
from ashiato.collector.operations import (
    KEY_OPERATIONS,
    OPERATIONS,
    PATHS,
    Context,
    OperationError,
    plain,
    retention_policy,
    run_audited,
)
from ashiato.collector.spool_cli import spool_dirs
from ashiato.collector.sqlquery import run_query
from ashiato.retention.errors import RetentionError
from ashiato.storage import audit
from ashiato.storage.backend import QueryResult, connection
from ashiato.storage.deadletter import redrive
from ashiato.storage.errors import QueryRejected, StorageError, StorageUnavailable

log = logging.getLogger(__name__)


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response that can carry dates and UUIDs."""
    return web.Response(
        text=json.dumps(body, default=_json_default, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


def error(status: int, message: str) -> web.HTTPException:
    """An HTTP error whose JSON body says what is wrong."""
    exc_class = {
        400: web.HTTPBadRequest,
        409: web.HTTPConflict,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        503: web.HTTPServiceUnavailable,
    }[status]
    return exc_class(text=json.dumps({"error": message}), content_type="application/json")


async def write_audit(request: web.Request, entry: audit.AuditEntry) -> None:
    """Append an audit row for this request, off the event loop."""
    store = request.app[STORE]

    def _write() -> None:
        with connection(store) as backend:
            audit.record(backend, entry)

    await asyncio.to_thread(_write)


async def authorize(request: web.Request, scope: str, action: str) -> TokenRecord:
    """The caller's token if it holds `scope`; a refused attempt is audited and answered 401/403."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    metrics = request.app[METRICS]
    if scheme.lower() != "bearer" or not presented.strip():
        metrics.admin_requests.labels(action, "unauthenticated").inc()
        raise error(401, "missing bearer token (Authorization: Bearer <token>)")
    record = request.app[TOKENS].verify(presented.strip())
    if record is None:
        metrics.admin_requests.labels(action, "unauthenticated").inc()
        raise error(401, "unknown admin token")
    if not record.allows(scope):
        metrics.admin_requests.labels(action, "forbidden").inc()
        await write_audit(
            request,
            audit.AuditEntry(
                f"token:{record.id}", f"denied:{action}", detail=f"needs scope {scope}"
            ),
        )
        raise error(403, f"this token lacks the {scope!r} scope")
    metrics.admin_requests.labels(action, "ok").inc()
    return record


# Log chunks from `ingest-log` are the largest admin bodies (1 MiB of lines, escaped).
MAX_ADMIN_BODY = 16 << 20


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400 (counted) saying what is wrong with it."""
    try:
        # The admin client sends the bytes of log lines that are not UTF-8 as byte escapes.
        body = strictjson.loads(await read_limited(request, MAX_ADMIN_BODY), byte_escapes=True)
    except InvalidInput as exc:
        request.app[METRICS].rejected.labels(exc.reason).inc()
        raise error(400, f"the body must be a JSON object: {exc}") from None
    if not isinstance(body, dict):
        request.app[METRICS].rejected.labels("bad_body").inc()
        raise error(400, "the body must be a JSON object")
    return body


def result_body(result: QueryResult) -> dict[str, Any]:
    """A query result as the admin API returns it."""
    return {"columns": result.columns, "types": result.types, "rows": result.rows}


async def sql(request: web.Request) -> web.Response:
    """Run one person's read-only query for `ashiato sql`; audited, run or refused."""
    token = await authorize(request, "sql", "sql")
    body = await read_json(request)
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise error(400, "'query' must be a non-empty string")
    store, limits = request.app[STORE], request.app[CONFIG].storage.query_limits
    reason = str(body.get("reason", ""))

    def _run() -> QueryResult:
        with connection(store) as backend:
            return run_query(backend, query, limits, f"token:{token.id}", reason)

    try:
        result = await asyncio.to_thread(_run)
    except StorageUnavailable as exc:
        raise error(503, str(exc)) from None
    except QueryRejected as exc:
        raise error(400, str(exc)) from None
    except StorageError as exc:
        raise error(503, str(exc)) from None
    return json_response(result_body(result))


async def ingest(request: web.Request) -> web.Response:
    """Take access-log lines for `ingest-log` while this server holds the embedded store."""
    await authorize(request, "admin", "ingest")
    config = request.app[CONFIG]
    log_format = request.query.get("format", "combined")
    try:
        first_line = int(request.query.get("first_line", "1"))
        ingestor = LogIngestor(
            log_format,
            site=request.query.get("site", ""),
            base_url=request.query.get("host", ""),
            exclude=config.collection.log_exclude,
        )
    except (ValueError, LogFormatError, BaseUrlError) as exc:
        raise error(400, str(exc)) from None
    body = await read_json(request)
    lines, origins = body.get("lines"), body.get("origins")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise error(400, "'lines' must be a list of strings")
    if origins is not None and (not isinstance(origins, list) or len(origins) != len(lines)):
        raise error(400, "'origins' must be a list as long as 'lines'")
    encoded = [line.encode("utf-8", "surrogateescape") for line in lines]
    label = request.query.get("label", "")[:200]
    records, counts = ingestor.records(encoded, first_line, label, origins)
    if records and not request.app[WRITER].submit_records(records):
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": "spool full; retry later"}),
            headers={"Retry-After": "1"},
            content_type="application/json",
        )
    record_ingest(request.app[METRICS], counts)
    return json_response(counts.as_dict())


async def spool_redrive(request: web.Request) -> web.Response:
    """Re-insert dead-lettered batches for `ashiato spool redrive` in embedded mode."""
    token = await authorize(request, "admin", "redrive")
    config, store = request.app[CONFIG], request.app[STORE]

    def _run() -> int:
        rows = sum(redrive(directory, store) for directory in spool_dirs(config))
        with connection(store) as backend:
            audit.record(backend, audit.AuditEntry(f"token:{token.id}", "redrive", rows=rows))
        return rows

    try:
        rows = await asyncio.to_thread(_run)
    except StorageError as exc:
        raise error(503, str(exc)) from None
    return json_response({"rows": rows})


# Long enough for a backlog of full batches; a store that is down answers 503 instead.
ACKNOWLEDGED_HITS_TIMEOUT_S = 10.0


async def store_acknowledged_hits(request: web.Request) -> None:
    """Wait until every hit this server has acknowledged is in ClickHouse; 503 if it cannot be.

    `identify` decides on the visitor's latest consent event, and a consent the collector just
    acknowledged may still wait in the spool for the writer's next batch. Flushing first is
    the simplest correct way for identify to see it: the writer already knows how to insert
    everything up to the spool's current end (at once, not after `batch_ms`), so the wait is
    one insert while the writer keeps up, and the decision stays with the stored events, the
    one record of consent. Keeping recent consents in memory instead would be a second copy of
    that record, with a lifetime of its own to get right. Hits acknowledged by another worker
    or another collector are seen once their own writer has stored them.
    """
    flushed = await asyncio.to_thread(request.app[WRITER].flush, ACKNOWLEDGED_HITS_TIMEOUT_S)
    if not flushed:
        raise error(503, "recent hits are not stored yet (is ClickHouse up?); retry later")


def operation_handler(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The admin API handler of one privacy operation (same code as the CLI's)."""
    operation = OPERATIONS[name]

    async def handle(request: web.Request) -> web.Response:
        token = await authorize(request, operation.scope, name)
        params = await read_json(request)
        if operation.sees_acknowledged_hits:
            await store_acknowledged_hits(request)
        config = request.app[CONFIG]
        ctx = Context(
            request.app[SECRETS],
            retention_policy(config),
            f"token:{token.id}",
            request.app[TOKENS],
            config.data_dir,
        )
        store = request.app[STORE]

        def _run() -> Any:
            with connection(store) as backend:
                return run_audited(backend, name, params, ctx)

        try:
            result = await asyncio.to_thread(_run)
        except (OperationError, ValueError) as exc:
            raise error(400, str(exc)) from None
        except RetentionError as exc:
            raise error(409, str(exc)) from None
        except StorageError as exc:
            raise error(503, operation.storage_failure(exc)) from None
        if name == "retention":
            request.app[METRICS].retention_ran(result)
        if name in KEY_OPERATIONS:
            reload_keys(request.app)
        if name in ("suppress", "unsuppress", "erase"):
            # Effective for the very next hit, not only at the next periodic reload.
            await request.app[SUPPRESSED].reload()
        return json_response(plain(result))

    return handle


def reload_keys(app: web.Application, *, tell_siblings: bool = True) -> None:
    """Read keys.json again in this process; under a supervisor, have it tell them all."""
    secrets = app[SECRETS].reload()
    app[ENRICHER].set_visitor_key(secrets.visitor_key)
    log.info(
        "keys reloaded: e-mail token keys %s, current %s",
        ",".join(sorted(secrets.tokens.keys)),
        secrets.tokens.current,
    )
    # A process the supervisor started (an edge, a loader, a worker): the others reload too.
    if tell_siblings and os.environ.get(ROLE_ENV) is not None:
        os.kill(os.getppid(), signal.SIGHUP)


async def keys_reload(request: web.Request) -> web.Response:
    """POST /admin/keys/reload: use keys.json as it is now, without a restart."""
    token = await authorize(request, "admin", "keys-reload")
    try:
        reload_keys(request.app)
    except ValueError as exc:
        raise error(409, f"keys.json was not reloaded: {exc}") from None
    await write_audit(request, audit.AuditEntry(f"token:{token.id}", "keys:reload"))
    return json_response({"reloaded": True, "current": request.app[SECRETS].tokens.current})


def add_routes(app: web.Application) -> None:
    """Register the admin API's routes."""
    app.router.add_post("/admin/sql", sql)
    app.router.add_post("/admin/keys/reload", keys_reload)
    app.router.add_post("/admin/ingest", ingest)
    app.router.add_post("/admin/spool/redrive", spool_redrive)
    for name, path in PATHS.items():
        app.router.add_post(path, operation_handler(name))
