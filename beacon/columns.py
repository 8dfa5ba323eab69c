"""The events table's columns, declared once: name, type, the purpose each needs, its meaning.

The DDL (`storage.schema`), the event model's field order (`beacon.event`), the insert column
list and the spool's record layout all come from this table, and so does the rule of what a
hit keeps: a column is filled only when the hit's consent grants the purpose it names (the
README's consent table says the same in prose). Types are what ClickHouse 18.16 declares;
`repeats` columns become LowCardinality(String) where the server has it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from ashiato.beacon.vocabulary import ALWAYS, CONSENT_SIGNALS, Purpose, spoken


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the events table."""

    name: str
    type: str
    needs: Purpose
    meaning: str
    repeats: bool = False  # few distinct values: LowCardinality(String) from ClickHouse 19.0
    identifies: bool = False  # names a person or a browser: never kept for a suppressed subject
    kept_by: frozenset[str] = frozenset()  # hit kinds that keep it whatever the purposes

    def clickhouse_type(self, low_cardinality: bool) -> str:
        """The declared type on a server that has (or lacks) LowCardinality."""
        return "LowCardinality(String)" if self.repeats and low_cardinality else self.type

    @property
    def empty(self) -> Any:
        """The value of the column when the hit may not keep it."""
        if self.type.startswith("Nullable("):
            return None
        if self.type.startswith("Array("):
            return ()
        if self.type.startswith(("UInt", "Int")):
            return 0
        return ""


def _c(
    name: str,
    type_: str,
    needs: Purpose,
    meaning: str,
    *,
    repeats: bool = False,
    identifies: bool = False,
    kept_by: Iterable[str] = (),
) -> Column:
    return Column(name, type_, needs, meaning, repeats, identifies, frozenset(kept_by))


EVENT_COLUMNS: Final[tuple[Column, ...]] = (
    _c("event_id", "UUID", "necessary", "the event's id; a replayed hit carries the same id"),
    _c("ts_ms", "UInt64", "necessary", "when the hit happened, milliseconds since the epoch (UTC)"),
    _c("day", "Date", "necessary", "the UTC day of ts_ms; with the retention class, the partition"),
    _c(
        "kind",
        "String",
        "necessary",
        "pageview, event, email_open, email_click, consent or access_log",
        repeats=True,
    ),
    _c("site", "String", "necessary", "the site the hit belongs to", repeats=True),
    _c("name", "String", "necessary", "the custom event's name"),
    _c("url", "String", "necessary", "the page or request path"),
    _c("referrer", "String", "necessary", "the referring URL"),
    _c(
        "ref_medium",
        "String",
        "necessary",
        "kind of referrer: internal, search, social, email, paid or unknown",
        repeats=True,
    ),
    _c("ref_source", "String", "necessary", "the referring site or search engine", repeats=True),
    _c("ref_term", "String", "necessary", "the search keyword typed into a search site"),
    _c("ip", "String", "necessary", "the client IP truncated to /24 (IPv4) or /48 (IPv6)"),
    _c(
        "ip_full",
        "Nullable(String)",
        "necessary",
        "the full client IP, for the security window only",
    ),
    _c(
        "host",
        "Nullable(String)",
        "necessary",
        "the client's reverse-DNS host name, for the security window only",
    ),
    _c(
        "user_agent",
        "String",
        "necessary",
        "the User-Agent header, cleared after the security window",
    ),
    _c("browser", "String", "necessary", "browser family from the user agent", repeats=True),
    _c("browser_version", "String", "necessary", "browser version from the user agent"),
    _c("os", "String", "necessary", "operating system from the user agent", repeats=True),
    _c("os_version", "String", "necessary", "operating system version from the user agent"),
    _c(
        "device",
        "String",
        "necessary",
        "device class: desktop, mobile, tablet or bot",
        repeats=True,
    ),
    _c("is_bot", "UInt8", "necessary", "1 when the user agent is a known bot"),
    _c(
        "automated",
        "String",
        "necessary",
        "why the hit looks automated (a mail proxy, a link scanner…), else empty",
        repeats=True,
    ),
    _c(
        "language",
        "String",
        "statistics",
        "the visitor's primary language (Accept-Language or the tracker's)",
        repeats=True,
    ),
    _c("screen", "String", "statistics", "screen size, from the tracker"),
    _c("country", "String", "necessary", "country of the client IP", repeats=True),
    _c("region", "String", "statistics", "region of the client IP"),
    _c("city", "String", "statistics", "city of the client IP"),
    _c("asn", "UInt32", "necessary", "autonomous system number of the client IP"),
    _c("as_org", "String", "necessary", "organisation owning that autonomous system"),
    _c(
        "visitor_id",
        "Nullable(String)",
        "personalization",
        "pseudonymous visitor id: a keyed hash of the visitor cookie",
        identifies=True,
        # A consent change keeps the browser's pseudonym even when it withdraws: the record of
        # the withdrawal is what stops any later linking of that visitor.
        kept_by=("consent",),
    ),
    _c(
        "member_id",
        "Nullable(String)",
        "marketing",
        "the registered member the hit is linked to; never taken from a browser",
        identifies=True,
    ),
    _c("campaign", "String", "necessary", "the e-mail or marketing campaign"),
    _c(
        "recipient",
        "Nullable(String)",
        "necessary",
        "e-mail recipient pseudonym (a keyed hash), from a signed e-mail token",
        identifies=True,
    ),
    _c("target_url", "String", "necessary", "where a tracked e-mail click led"),
    _c("method", "String", "necessary", "HTTP method, for access-log lines", repeats=True),
    _c("status", "UInt16", "necessary", "HTTP status, for access-log lines"),
    _c("bytes_sent", "UInt64", "necessary", "response bytes, for access-log lines"),
    _c("request_time_ms", "UInt32", "necessary", "time to answer, for access-log lines"),
    _c("purposes", "Array(String)", "necessary", "the consent purposes the hit granted"),
    _c(
        "consent_signal",
        "String",
        "necessary",
        f"what decided the purposes: {spoken(CONSENT_SIGNALS)}",
        repeats=True,
    ),
    _c(
        "policy_version",
        "String",
        "necessary",
        "the privacy policy version in force at the hit",
        repeats=True,
    ),
    _c(
        "retention_class",
        "String",
        "necessary",
        "how long the event is kept (the partition's class)",
    ),
    _c(
        "source",
        "String",
        "necessary",
        "where the hit came from: pixel, beacon, consent, email or log",
        repeats=True,
    ),
    _c("props", "String", "necessary", "custom event properties, as JSON"),
)

BY_NAME: Final[dict[str, Column]] = {c.name: c for c in EVENT_COLUMNS}
COLUMNS: Final[tuple[str, ...]] = tuple(c.name for c in EVENT_COLUMNS)
"""Column names in table order: the insert column list and the spool's record layout."""


@functools.lru_cache(maxsize=256)
def _withheld(purposes: frozenset[str], kind: str, suppressed: bool) -> tuple[Column, ...]:
    granted = purposes | {ALWAYS}
    return tuple(
        c
        for c in EVENT_COLUMNS
        if (suppressed and c.identifies) or (c.needs not in granted and kind not in c.kept_by)
    )


def withheld(purposes: Iterable[str], kind: str, suppressed: bool = False) -> tuple[Column, ...]:
    """The columns a hit may not keep, given the purposes it granted.

    `necessary` counts as granted whether listed or not. A suppressed subject keeps nothing
    that identifies it, whatever it granted.
    """
    return _withheld(frozenset(purposes), kind, suppressed)
