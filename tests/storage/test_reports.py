"""Aggregate reports on both backends: each event once, small groups merged, nobody singled
out, suppressed subjects and automated traffic left out."""

from __future__ import annotations

from datetime import date

import pytest

from ashiato.beacon.columns import COLUMNS
from ashiato.beacon.event import Event
from ashiato.retention.suppress import suppress, suppressed_events
from ashiato.storage.backend import Store, connection
from ashiato.storage.errors import QueryRejected
from ashiato.storage.reports import traffic
from ashiato.storage.schema import EVENTS_TABLE, migrate

DAY_MS = 1_795_300_000_000  # 2026-11-21
STATISTICS = suppressed_events("statistics")


def _events() -> list[Event]:
    shop = [
        Event(ts_ms=DAY_MS + i, kind="pageview", site="shop", visitor_id=f"v{i % 4}")
        for i in range(12)
    ]
    blog = [Event(ts_ms=DAY_MS + 100 + i, kind="pageview", site="blog") for i in range(3)]
    bots = [
        Event(ts_ms=DAY_MS + 200 + i, kind="pageview", site="shop", is_bot=True) for i in range(6)
    ]
    proxy = [
        Event(ts_ms=DAY_MS + 300 + i, kind="email_open", site="mail", automated="mail_proxy")
        for i in range(6)
    ]
    return shop + blog + bots + proxy


def test_reports_count_each_event_once_and_hide_small_groups(store: Store) -> None:
    events = _events()
    with connection(store) as backend:
        migrate(backend)
        for _ in range(2):  # a replay inserts the same events again
            backend.insert(EVENTS_TABLE, [e.to_row() for e in events], COLUMNS)
        report = traffic(
            backend,
            since=date(2026, 11, 1),
            until=date(2026, 11, 30),
            exclude=STATISTICS,
            by=["site", "kind"],
        )
        # By kind, the mail proxy's opens are counted apart from people's, never mixed in.
        assert report.rows == [
            ("mail", "email_open (automated)", 6, 0),
            ("shop", "pageview", 12, 4),
            ("(other)", "(other)", 3, None),
        ]
        assert report.columns == ("site", "kind", "events", "visitors")
        assert report.hidden == 3
        everything = traffic(
            backend,
            since=date(2026, 11, 1),
            until=date(2026, 11, 30),
            exclude=STATISTICS,
            by=["site"],
            min_group=1,
            include_automated=True,
        )
        assert everything.rows == [("blog", 3, 0), ("mail", 6, 0), ("shop", 18, 4)]

        suppress(backend, "visitor", "v1", "test", "objection")
        after = traffic(
            backend,
            since=date(2026, 11, 1),
            until=date(2026, 11, 30),
            exclude=STATISTICS,
            by=["site"],
        )
        assert after.rows == [("shop", 9, 3), ("(other)", 3, None)]


def test_reports_by_url_search_term_country_device_and_campaign(store: Store) -> None:
    page = [
        Event(
            ts_ms=DAY_MS + i,
            kind="pageview",
            site="shop",
            url="https://shop.example/tea",
            ref_source="google",
            ref_term="green tea",
            country="JP",
            device="mobile",
            campaign="nov",
            visitor_id=f"v{i % 2}",
        )
        for i in range(5)
    ]
    with connection(store) as backend:
        migrate(backend)
        backend.insert(EVENTS_TABLE, [e.to_row() for e in page], COLUMNS)
        report = traffic(
            backend,
            since=date(2026, 11, 1),
            until=date(2026, 11, 30),
            exclude=STATISTICS,
            by=["url", "ref_source", "ref_term", "country", "device", "campaign"],
        )
    assert report.rows == [
        ("https://shop.example/tea", "google", "green tea", "JP", "mobile", "nov", 5, 2)
    ]


@pytest.mark.parametrize("by", [["visitor_id"], ["ip"], ["site; DROP TABLE events"], []])
def test_reports_refuse_identifying_or_unknown_dimensions(store: Store, by: list[str]) -> None:
    with connection(store) as backend:
        migrate(backend)
        with pytest.raises(QueryRejected):
            traffic(
                backend,
                since=date(2026, 1, 1),
                until=date(2026, 12, 31),
                exclude=STATISTICS,
                by=by,
            )
