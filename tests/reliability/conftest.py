"""Real processes for reliability tests: a clickhouse-server per test, `ashiato serve` as a
subprocess that can be stopped, killed and restarted, and an HTTP load that remembers which
events were acknowledged.

Every event the load sends carries a unique marker (in the page URL, or as the e-mail
campaign), so a test can tell exactly which acknowledged events reached ClickHouse and whether
any of them arrived twice.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ashiato.beacon.tokens import EmailToken, recipient_pseudonym, sign_token
from ashiato.collector.secrets import load_secrets
from tests.clickhouse_server import ClickHouseServer, free_port, start_server

ASHIATO = [sys.executable, "-P", "-m", "ashiato"]
DATABASE = "rel"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GIF_LENGTH = 43
_MARKER = re.compile(r"/p/([A-Za-z0-9_-]+)")
_runs = itertools.count()


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `ashiato ARGS` and return what it printed."""
    return subprocess.run(
        [*ASHIATO, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


# --- ClickHouse -------------------------------------------------------------------------------


@pytest.fixture
def clickhouse(tmp_path: Path) -> Iterator[ClickHouseServer]:
    """A clickhouse-server of this test's own, free to be stopped and started again."""
    server = start_server(tmp_path / "clickhouse")
    try:
        yield server
    finally:
        server.stop()


def query(server: ClickHouseServer, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement on the test database with a fresh client."""
    client = server.client(DATABASE)
    try:
        return list(client.execute(sql))
    finally:
        client.disconnect()


def marker_of(campaign: str, url: str) -> str:
    """The load marker of a stored event: its campaign (e-mail), or from its page URL."""
    match = _MARKER.search(url)
    return campaign or (match.group(1) if match else url)


def stored_markers(server: ClickHouseServer, table: str = "events") -> Counter[str]:
    """How many times each load marker is in `table` (the deduplicating view by default)."""
    rows = query(server, f"SELECT campaign, url FROM {table}")
    return Counter(marker_of(campaign, url) for campaign, url in rows)


async def wait_for_markers(
    server: ClickHouseServer, markers: set[str], timeout: float = 60.0
) -> Counter[str]:
    """Poll until every marker is in ClickHouse; fail listing what is missing."""
    deadline = time.monotonic() + timeout
    found: Counter[str] = Counter()
    while True:
        try:
            count = (await asyncio.to_thread(query, server, "SELECT count() FROM events_data"))[0][
                0
            ]
            if count >= len(markers):
                found = await asyncio.to_thread(stored_markers, server)
                if markers <= found.keys():
                    return found
        except Exception:  # ClickHouse or the schema not there yet
            pass
        if time.monotonic() > deadline:
            missing = markers - found.keys()
            raise AssertionError(
                f"{len(missing)} of {len(markers)} acknowledged events never arrived, "
                f"e.g. {sorted(missing)[:5]}"
            )
        await asyncio.sleep(0.1)


def assert_exactly_once(server: ClickHouseServer, acked: set[str]) -> Counter[str]:
    """Every acknowledged event is stored, and no event is counted twice anywhere."""
    found = stored_markers(server)
    missing = acked - found.keys()
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    doubled = {m: n for m, n in found.items() if n > 1}
    assert not doubled, f"{len(doubled)} events stored twice, e.g. {list(doubled.items())[:5]}"
    count, unique = query(server, "SELECT count(), uniqExact(event_id) FROM events")[0]
    assert count == unique == sum(found.values())
    raw = query(server, "SELECT count() FROM events_data")[0][0]
    if raw > count:
        print(f"[reliability] {raw - count} replayed rows collapsed by the events view")
    query(server, "OPTIMIZE TABLE events_data FINAL")
    raw, raw_unique = query(server, "SELECT count(), uniqExact(event_id) FROM events_data")[0]
    assert raw == raw_unique == count
    return found


# --- the collector process --------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class Collector:
    """`ashiato serve` against a ClickHouse server, as a subprocess of the test."""

    def __init__(
        self, data_dir: Path, clickhouse_url: str, extra: Sequence[str] = (), port: int = 0
    ) -> None:
        self.data_dir = data_dir
        self.clickhouse_url = clickhouse_url
        self.extra = list(extra)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    @property
    def spool_dir(self) -> Path:
        """The spool of the one worker."""
        return self.data_dir / "spool" / "worker-0"

    def start(self, *, wait: str = "/readyz", timeout: float = 60.0) -> float:
        """Start serving on the same port as before; returns seconds until `wait` answered."""
        assert self.process is None or self.process.poll() is not None
        log = self.data_dir.parent / f"collector-{self.port}-{next(_runs)}.log"
        self.logs.append(log)
        args = [
            *ASHIATO,
            "serve",
            "--clickhouse-url",
            self.clickhouse_url,
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--batch-ms",
            "100",
            *self.extra,
        ]
        started = time.monotonic()
        with open(log, "wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + wait, timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"serve did not come up:\n{self.output()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> tuple[int, float]:
        """Send `sig` and wait for the exit; returns the exit code and the seconds it took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return code, time.monotonic() - started

    def child(self, role: str, timeout: float = 30.0) -> int:
        """The pid of the supervisor's child in `role` (edge, loader), once it runs."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            for pid in _children(self.process.pid):
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"--role" in argv and role.encode() in argv:
                    return pid
            assert time.monotonic() < deadline, f"no {role} process under the supervisor"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no drain, no spool close, nothing."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()

    def output(self) -> str:
        """Everything the processes printed, for failure messages."""
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')}"
            for log in self.logs
            if log.exists()
        )

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Scrape /metrics: (sample name, sorted labels) -> value."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            text = response.read().decode()
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def metric(self, name: str, **labels: str) -> float:
        """One sample's value, 0 when it is not exported yet."""
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`ashiato ARGS` pointed at this collector's data directory and ClickHouse."""
        return run_cli(
            *args, "--clickhouse-url", self.clickhouse_url, "--data-dir", str(self.data_dir)
        )


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    """Build collectors (not started) whose processes are all ended after the test."""
    made: list[Collector] = []

    def make(server: ClickHouseServer, *extra: str) -> Collector:
        data_dir = tmp_path / "var"
        load_secrets(data_dir)  # create the keys now, so the test can sign e-mail tokens
        collector = Collector(data_dir, server.url_for(DATABASE), extra)
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.kill()


# --- the load ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One HTTP request of the load and the event markers it carries."""

    kind: str  # pixel, beacon, open, click
    method: str
    path: str
    markers: tuple[str, ...]
    params: dict[str, str] | None = None
    json: Any = None


@dataclass
class Outcome:
    """What the load got back."""

    acked: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)  # an answer that did not acknowledge
    unanswered: set[str] = field(default_factory=set)  # no answer: connection lost or refused
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    bad_answers: list[str] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)


def page_url(marker: str, pad: int = 0) -> str:
    """A page URL carrying `marker` (and `pad` bytes of query string to make events large)."""
    return f"https://site.example/p/{marker}" + (f"?pad={'x' * pad}" if pad else "")


def make_requests(
    data_dir: Path,
    *,
    pixels: int = 0,
    beacons: int = 0,
    beacon_batch: int = 5,
    opens: int = 0,
    clicks: int = 0,
    pad: int = 0,
    prefix: str = "m",
) -> list[Request]:
    """The four kinds interleaved of requests; each event gets a unique marker."""
    keys = load_secrets(data_dir)
    expires = int(time.time()) + 86400
    recipient = recipient_pseudonym("ann@example.com", keys.recipient_key)
    counter = itertools.count()

    def marker() -> str:
        return f"{prefix}{next(counter)}"

    groups: list[list[Request]] = [[], [], [], []]
    for _ in range(pixels):
        m = marker()
        groups[0].append(
            Request("pixel", "GET", "/b.gif", (m,), params={"s": "shop", "u": page_url(m, pad)})
        )
    left = beacons
    while left > 0:
        size = min(beacon_batch, left)
        left -= size
        markers = tuple(marker() for _ in range(size))
        body = [
            {"s": "shop", "u": page_url(m, pad), "e": "signup", "p": {"plan": "pro"}}
            for m in markers
        ]
        groups[1].append(Request("beacon", "POST", "/b", markers, json=body))
    for _ in range(opens):
        m = marker()
        token = sign_token(EmailToken("open", m, recipient, expires), keys.tokens)
        groups[2].append(Request("open", "GET", f"/o/{token}.gif", (m,)))
    for _ in range(clicks):
        m = marker()
        token = sign_token(
            EmailToken("click", m, recipient, expires, f"https://shop.example/p/{m}"),
            keys.tokens,
        )
        groups[3].append(Request("click", "GET", f"/c/{token}", (m,)))
    mixed: list[Request] = []
    for row in itertools.zip_longest(*groups):
        mixed.extend(r for r in row if r is not None)
    return mixed


def _acknowledges(request: Request, status: int, body: bytes) -> bool:
    if request.kind in ("pixel", "open"):
        return status == 200 and len(body) == GIF_LENGTH
    if request.kind == "click":
        return status == 302
    return status == 204


async def run_load(
    base_url: str | Callable[[], str],
    requests: Sequence[Request],
    *,
    concurrency: int = 32,
    rate: float | None = None,
    stop: asyncio.Event | None = None,
    outcome: Outcome | None = None,
) -> Outcome:
    """Send `requests` concurrently (at most `rate` per second when given) and record answers.

    An event is acknowledged when its request got the answer that says it was kept.
    """
    outcome = outcome if outcome is not None else Outcome()
    url_of = base_url if callable(base_url) else (lambda: base_url)
    queue = iter(enumerate(requests))
    started = time.monotonic()

    async def worker(session: aiohttp.ClientSession) -> None:
        for index, request in queue:
            if stop is not None and stop.is_set():
                return
            if rate:
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            outcome.sent[request.kind] += 1
            try:
                async with session.request(
                    request.method,
                    url_of() + request.path,
                    params=request.params,
                    json=request.json,
                    allow_redirects=False,
                ) as response:
                    body = await response.read()
                    status = response.status
                    headers = response.headers
            except (aiohttp.ClientError, TimeoutError, OSError):
                outcome.unanswered.update(request.markers)
                await asyncio.sleep(0.1)  # the collector is down: do not spin
                continue
            outcome.statuses[(request.kind, status)] += 1
            if _acknowledges(request, status, body):
                outcome.acked.update(request.markers)
            else:
                outcome.refused.update(request.markers)
                if request.kind == "beacon" and status == 503:
                    if not headers.get("Retry-After"):
                        outcome.bad_answers.append("503 without Retry-After")
                else:
                    outcome.bad_answers.append(f"{request.kind} {status} {body[:80]!r}")

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers={"User-Agent": BROWSER_UA}
    ) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return outcome


@pytest.fixture
async def background() -> AsyncIterator[Callable[..., asyncio.Task[Outcome]]]:
    """Start loads as tasks; any still running at the end are stopped."""
    tasks: list[asyncio.Task[Outcome]] = []

    def start(*args: Any, **kwargs: Any) -> asyncio.Task[Outcome]:
        task = asyncio.ensure_future(run_load(*args, **kwargs))
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def log_time(what: str, seconds: float) -> None:
    """Print a measured time so it shows in `pytest -s` output."""
    print(f"\n[reliability] {what}: {seconds:.2f}s", file=sys.stderr, flush=True)
