"""Running the collector: one process, or a supervisor forking workers that share the port.

With `workers > 1` each worker is the same `ashiato serve` in a child process, bound with
SO_REUSEPORT so the kernel spreads connections, with its own spool directory
(`ASHIATO_WORKER`), and prometheus-client's multiprocess mode so `/metrics` on any worker
reports the whole server. The supervisor migrates once before forking, restarts a worker that
dies, and passes SIGTERM on so every worker drains its spool.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from aiohttp import web

from ashiato.collector.admin import reload_keys
from ashiato.collector.adminclient import SERVER_FILE
from ashiato.collector.app import create_app, handler_args, prepare_storage
from ashiato.collector.appkeys import METRICS
from ashiato.collector.auth import TokenStore
from ashiato.collector.collect import pixel
from ashiato.collector.config import LOADER_ENV, ROLE_ENV, WORKER_ENV, Config
from ashiato.collector.fastpath import pixel_dispatch
from ashiato.collector.listener import (
    ConnectionLimits,
    Listener,
    bind,
)
from ashiato.collector.passthrough import LOADER_FILE, announce_loader
from ashiato.collector.roles import ROLE_FLAG, Role
from ashiato.collector.tracker import snippet
from ashiato.storage.backend import Store
from ashiato.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
EDGE_SHUTDOWN_SECONDS = 2.0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the `fast` extra), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def banner(
    config: Config, store_kind: str, workers: int, new_token: str | None, loaders: int = 0
) -> None:
    """Tell the newcomer where to point a beacon and how to reach the admin API.

    A new bootstrap token is shown once, and only to a terminal: when stdout goes to a journal
    or a file, the banner names the file that holds it instead.
    """
    server, base = config.server, config.server.base_url
    tokens = TokenStore(config.data_dir)
    plural = f", {workers} workers" if workers > 1 else ""
    if loaders:
        edges = f"{workers} edges" if workers > 1 else "1 edge"
        plural = f", {edges} and {loaders} loader{'s' if loaders > 1 else ''}"
    print(f"ashiato {store_kind} store{plural}, listening on http://{server.host}:{server.port}")
    print(f'  beacon pixel:  <img src="{base}/b.gif?s=SITE" alt="" width="1" height="1">')
    tracker = snippet(base, "SITE").replace("\n", "\n                 ")
    print(f"  tracker:       {tracker}")
    print(f"  metrics:       {base}/metrics")
    if new_token is not None and sys.stdout.isatty():
        print(f"  admin token:   {new_token}")
        print(f"                 (kept in {tokens.bootstrap_path}, readable only by you)")
    elif tokens.bootstrap_path.exists():
        print(f"  admin token:   in {tokens.bootstrap_path} (readable only by its owner)")
    sys.stdout.flush()


def check_address(config: Config) -> None:
    """ListenError now, rather than from every worker, when the address cannot be had."""
    # Without SO_REUSEPORT: a port another collector holds, with it or not, is refused here.
    bind(config.server.host, config.server.port, reuse_port=False).close()


def announce(config: Config) -> None:
    """Let CLI commands find this server (they use its admin API in embedded mode)."""
    (config.data_dir / SERVER_FILE).write_text(
        json.dumps({"url": f"http://{config.server.host}:{config.server.port}", "pid": os.getpid()})
    )


def run_worker(
    config: Config,
    store: Store | None,
    *,
    on_listening: Callable[[], None] | None = None,
    role: Role = "all",
) -> None:
    """Serve in this process until SIGINT or SIGTERM, then drain.

    ListenError (the address is taken, say) is raised before anything is announced.
    """
    serve = (
        _serve_loader(config, store)
        if role == "loader"
        else _serve(config, store, on_listening, role)
    )
    loop = _event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


def _stop_on_signals(app: web.Application) -> asyncio.Event:
    """An event set by SIGINT or SIGTERM; SIGHUP reloads the keys."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_keys, app)
    return stop


async def _serve_loader(config: Config, store: Store | None) -> None:
    """The loader: the admin API on a loopback port, announced to the edges; then load."""
    app = create_app(config, store=store, role="loader")
    runner = web.AppRunner(
        app,
        shutdown_timeout=config.storage.drain_seconds,
        access_log=None,
        **handler_args(config, app[METRICS]),
    )
    await runner.setup()
    sock = bind("127.0.0.1", 0)
    site = web.SockSite(runner, sock)
    await site.start()
    stop = _stop_on_signals(app)
    host, port = sock.getsockname()[:2]
    announce_loader(config.data_dir, f"http://{host}:{port}")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def _serve(
    config: Config, store: Store | None, on_listening: Callable[[], None] | None, role: Role
) -> None:
    server = config.server
    app = create_app(config, store=store, role=role)
    listener = Listener(
        app,
        ConnectionLimits(
            header_seconds=server.header_timeout_seconds,
            idle_seconds=server.idle_timeout_seconds,
            max_connections=server.max_connections,
        ),
        # An edge has only the requests in flight to finish: the loader drains after it.
        shutdown_timeout=(
            min(EDGE_SHUTDOWN_SECONDS, config.storage.drain_seconds)
            if role == "edge"
            else config.storage.drain_seconds
        ),
        handler_args=handler_args(config, app[METRICS]),
        dispatch=lambda app, handle: pixel_dispatch(app, handle, pixel),
    )
    stop = _stop_on_signals(listener.app)
    await listener.start(
        server.host, server.port, reuse_port=os.environ.get(WORKER_ENV) is not None
    )
    try:
        if on_listening is not None:
            on_listening()
        await stop.wait()
    finally:
        await listener.stop()


def _reload_keys(app: web.Application) -> None:
    """SIGHUP: read keys.json again (a damaged file is reported and the old keys kept)."""
    try:
        reload_keys(app, tell_siblings=False)
    except ValueError as exc:
        log.error("keys not reloaded: %s", exc)


def run_single(config: Config, store: Store) -> int:
    """The default: one process."""
    created = TokenStore(config.data_dir).ensure_bootstrap()

    def listening() -> None:
        announce(config)
        banner(config, store.kind, 1, created)

    try:
        run_worker(config, store, on_listening=listening)
    finally:
        store.close()
        (config.data_dir / SERVER_FILE).unlink(missing_ok=True)
    return 0


def run_supervisor(config: Config, store: Store, argv: Sequence[str]) -> int:
    """Start the loaders and the edges (or, with `--loaders 0`, workers that do both), and
    keep them running until told to stop."""
    check_address(config)
    created = TokenStore(config.data_dir).ensure_bootstrap()
    try:
        prepare_storage(store)
    except StorageUnavailable as exc:
        # The edges take hits into their spools meanwhile; each loader migrates once it can.
        log.error("storage not ready; serving from the spool until it is: %s", exc)
    finally:
        store.close()
    metrics_dir = config.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    (config.data_dir / LOADER_FILE).unlink(missing_ok=True)
    base_env = {**os.environ, MULTIPROC_ENV: str(metrics_dir)}
    # -P: the working directory is not put on sys.path, so nothing there can stand in for us.
    command = [sys.executable, "-P", "-m", "ashiato", *argv]
    loaders = config.server.loaders
    edge_role: Role = "edge" if loaders else "all"
    stopping = False

    def spawn(child: tuple[Role, int]) -> subprocess.Popen[bytes]:
        role, index = child
        env = {**base_env, ROLE_ENV: role}
        env[LOADER_ENV if role == "loader" else WORKER_ENV] = str(index)
        return subprocess.Popen([*command, ROLE_FLAG, role], env=env, preexec_fn=_die_with_parent)

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def reload(signum: int, frame: FrameType | None) -> None:
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGHUP)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    plan: list[tuple[Role, int]] = [("loader", i) for i in range(loaders)]
    plan += [(edge_role, i) for i in range(config.server.workers)]
    children = {child: spawn(child) for child in plan}
    announce(config)
    banner(config, store.kind, config.server.workers, created, loaders)
    try:
        while not stopping:
            time.sleep(0.2)
            for child, process in list(children.items()):
                if process.poll() is not None and not stopping:
                    log.error(
                        "%s %d exited with %s; restarting it",
                        child[0],
                        child[1],
                        process.returncode,
                    )
                    _mark_dead(process.pid, metrics_dir)
                    time.sleep(1)
                    children[child] = spawn(child)
    finally:
        # Edges first: they finish the requests in flight and close their spools; then the
        # loaders insert what the edges left, within the drain time.
        for tier in (("edge", "all"), ("loader",)):
            _stop_children([p for c, p in children.items() if c[0] in tier], config)
        (config.data_dir / SERVER_FILE).unlink(missing_ok=True)
    return 0


def _stop_children(processes: list[subprocess.Popen[bytes]], config: Config) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + config.storage.drain_seconds + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _die_with_parent() -> None:
    """In a child about to start: be killed when the supervisor dies, however it dies.

    A child outliving its supervisor would go on holding the port and its spool unsupervised,
    and a supervisor started again would run a second set beside it. What the child spooled
    is on disk either way; the next loader inserts it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _mark_dead(pid: int, metrics_dir: Path) -> None:
    """Drop a dead child's live gauges from the shared metric files."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(metrics_dir))  # type: ignore[no-untyped-call]
