"""t.js end to end: a page in headless Chromium, `ashiato serve` on the embedded store, and the
rows that land in `events`."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any

import pytest

from tests.collector.test_cli import Served, run_cli
from tests.tcf_strings import granting

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Debian's chromium not at {CHROMIUM}"),
]

# The page's consent manager speaks before t.js has loaded: the queue stub must carry its calls.
PAGE = Template("""<!doctype html>
<html><head><meta charset="utf-8"><title>ashiato tracker test</title>
<script>
window.ashiato = window.ashiato || function () { (ashiato.q = ashiato.q || []).push(arguments) };
ashiato('consent', 'statistics,personalization');
ashiato('event', 'signup');
</script>
<script async src="$collector/t.js" data-site="$site"
        data-consent="statistics,personalization"></script>
</head><body><img src="$collector/b.gif?s=$site&amp;e=imgview" alt=""></body></html>
""")

# A page whose IAB TCF consent manager shows its banner first; the visitor answers a moment
# later, granting TCF purposes 1, 7, 8, 9 and 10. Consent Mode and data-consent say more, but
# the consent manager's answer comes first.
TCF_PAGE = Template(
    Template("""<!doctype html>
<html><head><meta charset="utf-8"><title>ashiato tracker test</title>
<script>
window.__tcfapi = function (command, version, callback) {
  if (command !== 'addEventListener' || version !== 2) return;
  callback({ eventStatus: 'cmpuishown', gdprApplies: true, tcString: '', listenerId: 1 }, true);
  setTimeout(function () {
    callback({ eventStatus: 'useractioncomplete', gdprApplies: true, tcString: '$tc',
               listenerId: 1 }, true);
  }, 300);
};
window.dataLayer = [];
function gtag() { dataLayer.push(arguments); }
gtag('consent', 'default', { ad_storage: 'granted', analytics_storage: 'granted',
                             ad_user_data: 'granted', ad_personalization: 'granted' });
window.ashiato = window.ashiato || function () { (ashiato.q = ashiato.q || []).push(arguments) };
ashiato('event', 'signup');
</script>
<script async src="$$collector/t.js" data-site="$$site"
        data-consent="statistics,personalization,marketing"></script>
</head><body></body></html>
""").substitute(tc=granting([1, 7, 8, 9, 10]))
)

# Google Consent Mode through gtag: all denied by default, analytics granted by the visitor; a
# default for another region only, which the tracker cannot know applies, is left out.
GCM_PAGE = Template("""<!doctype html>
<html><head><meta charset="utf-8"><title>ashiato tracker test</title>
<script>
window.dataLayer = window.dataLayer || [];
function gtag() { dataLayer.push(arguments); }
gtag('consent', 'default', { ad_storage: 'denied', analytics_storage: 'denied',
                             ad_user_data: 'denied', ad_personalization: 'denied' });
gtag('consent', 'default', { ad_storage: 'granted', ad_user_data: 'granted',
                             ad_personalization: 'granted', region: ['US-CA'] });
gtag('consent', 'update', { analytics_storage: 'granted' });
</script>
<script async src="$collector/t.js" data-site="$site"
        data-consent="statistics,personalization,marketing"></script>
</head><body></body></html>
""")

COLUMNS = (
    "kind, name, site, url, referrer, language, screen, visitor_id, purposes, "
    "consent_signal, source"
)


class PageServer:
    """The tracked site: serves a page for /SITE on its own port of 127.0.0.1 (same site)."""

    def __init__(self, collector: str, page: Template = PAGE) -> None:

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site = self.path.strip("/")
                if not re.fullmatch(r"[a-z-]+", site):
                    self.send_error(404)
                    return
                body = page.substitute(collector=collector, site=site).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("tracker") / "var", ["--batch-ms", "100"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(collector: Served) -> Iterator[PageServer]:
    pages = PageServer(collector.url)
    yield pages
    pages.close()


def load(url: str, profile: Path, *flags: str, dnt: bool = False) -> None:
    """Open url in headless Chromium with a fresh profile, until the page has settled."""
    if dnt:
        # The "Send a Do Not Track request" setting: DNT: 1 on every request, navigator.doNotTrack.
        (profile / "Default").mkdir(parents=True)
        (profile / "Default" / "Preferences").write_text(json.dumps({"enable_do_not_track": True}))
    result = subprocess.run(
        [
            CHROMIUM,
            "--no-sandbox",
            "--headless",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            *flags,
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ashiato tracker test" in result.stdout


def rows_for(served: Served, site: str) -> list[dict[str, Any]]:
    result = run_cli(
        "sql",
        "--data-dir",
        str(served.data_dir),
        "--format",
        "json",
        f"SELECT {COLUMNS} FROM events WHERE site = '{site}' ORDER BY ts_ms, kind, name",
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def wait_for_rows(served: Served, site: str, count: int) -> list[dict[str, Any]]:
    """The site's rows once at least count arrived, re-read after a few more batches so a
    duplicate sent late would show."""
    deadline = time.monotonic() + 30
    rows = rows_for(served, site)
    while len(rows) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} rows for {site}, got {rows}")
        time.sleep(0.2)
        rows = rows_for(served, site)
    time.sleep(0.5)
    return rows_for(served, site)


def by_source(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["source"], row["kind"], row["name"]), []).append(row)
    return grouped


def test_with_consent_the_pageview_carries_language_and_screen(
    collector: Served, site: PageServer, tmp_path: Path
) -> None:
    page = f"{site.url}/consenting"
    load(page, tmp_path / "profile")
    rows = wait_for_rows(collector, "consenting", 4)
    grouped = by_source(rows)

    pageviews = [r for r in rows if r["kind"] == "pageview"]
    assert len(pageviews) == 1, rows
    pageview = pageviews[0]
    assert pageview["source"] == "beacon"
    assert pageview["url"] == page
    assert pageview["referrer"] == ""
    assert pageview["language"] != ""
    assert re.fullmatch(r"[1-9]\d*x[1-9]\d*", pageview["screen"]), pageview
    assert pageview["consent_signal"] == "explicit"
    assert set(pageview["purposes"]) >= {"statistics", "personalization"}

    assert len(grouped[("pixel", "event", "imgview")]) == 1, rows
    (signup,) = grouped[("beacon", "event", "signup")]
    assert signup["language"] == pageview["language"]
    assert signup["screen"] == pageview["screen"]
    # The consent the page reported is stored once, under its site.
    (grant,) = grouped[("consent", "consent", "grant")]
    assert set(grant["purposes"]) >= {"statistics", "personalization"}
    assert len(rows) == 4, rows

    # The same page again, in the same browser profile: the consent did not change, so only
    # the new hits are stored, not another grant.
    load(page, tmp_path / "profile")
    rows = wait_for_rows(collector, "consenting", 7)
    assert len(by_source(rows)[("consent", "consent", "grant")]) == 1, rows
    assert len(rows) == 7, rows


@pytest.mark.parametrize(
    ("signal", "flags", "dnt"),
    [
        ("dnt", (), True),
        # Chromium's own GPC: navigator.globalPrivacyControl is true and Sec-GPC: 1 is sent.
        ("gpc", ("--enable-features=GlobalPrivacyControlForce",), False),
    ],
)
def test_a_browser_privacy_signal_leaves_nothing_identifying(
    collector: Served,
    site: PageServer,
    tmp_path: Path,
    signal: str,
    flags: tuple[str, ...],
    dnt: bool,
) -> None:
    page = f"{site.url}/{signal}-on"
    load(page, tmp_path / "profile", *flags, dnt=dnt)
    rows = wait_for_rows(collector, f"{signal}-on", 3)
    grouped = by_source(rows)

    pageviews = [r for r in rows if r["kind"] == "pageview"]
    assert len(pageviews) == 1 and pageviews[0]["source"] == "beacon", rows
    assert pageviews[0]["url"] == page
    assert len(grouped[("pixel", "event", "imgview")]) == 1, rows
    assert len(grouped[("beacon", "event", "signup")]) == 1, rows
    assert len(rows) == 3, rows
    for row in rows:
        # The page's consent (data-consent and the queued call) does not outweigh the browser.
        assert row["consent_signal"] == signal, row
        assert row["purposes"] == ["necessary"], row
        assert row["visitor_id"] is None, row
        assert row["language"] == "", row
        assert row["screen"] == "", row


@pytest.mark.parametrize(
    ("page", "signal", "hits"),
    [(TCF_PAGE, "tcf", {"pageview", "signup"}), (GCM_PAGE, "gcm", {"pageview"})],
    ids=["tcf", "gcm"],
)
def test_the_pages_consent_manager_decides_over_data_consent(
    collector: Served, tmp_path: Path, page: Template, signal: str, hits: set[str]
) -> None:
    pages = PageServer(collector.url, page)
    try:
        load(f"{pages.url}/{signal}-page", tmp_path / "profile")
    finally:
        pages.close()
    rows = wait_for_rows(collector, f"{signal}-page", len(hits))
    # Each hit once: held for the consent manager's answer, then sent, not sent again on timeout.
    assert sorted(r["name"] for r in rows) == sorted(hits), rows
    for row in rows:
        assert row["source"] == "beacon", row
        assert row["consent_signal"] == signal, row
        assert row["purposes"] == ["necessary", "statistics"], row
        assert row["visitor_id"] is None, row
        assert row["language"] != "" and row["screen"] != "", row
