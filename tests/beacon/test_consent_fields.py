"""What each combination of purposes keeps, as the README's consent table says, built by the
real enricher (user agents, MaxMind databases, referrers, keyed visitor ids)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from ashiato.beacon.columns import COLUMNS, EVENT_COLUMNS
from ashiato.beacon.consent import ConsentDecision, ConsentPolicy
from ashiato.beacon.geo import GeoLookup
from ashiato.beacon.netaddr import TrustedProxies
from ashiato.beacon.pipeline import Enricher, Hit
from ashiato.beacon.referrer import ReferrerClassifier
from ashiato.beacon.useragent import UserAgentParser
from ashiato.beacon.vocabulary import PURPOSES
from tests.geo_fixtures import build_geo_databases

README = Path(__file__).resolve().parents[2] / "README.md"

# The README's consent table, row by row: the row as written there, and the columns it names.
README_ROWS: dict[str, tuple[str, frozenset[str]]] = {
    "necessary": (
        "| `necessary` only | IP truncated to /24 (IPv4) or /48 (IPv6); the full IP only in "
        "`ip_full` for the security window; no cookie, no visitor id, no language, screen or "
        "city |",
        frozenset(),
    ),
    "statistics": (
        "| + `statistics` | language, screen size, region and city |",
        frozenset({"language", "screen", "region", "city"}),
    ),
    "personalization": (
        "| + `personalization` | the visitor cookie, and `visitor_id`: an HMAC of the cookie "
        "under a key kept outside ClickHouse |",
        frozenset({"visitor_id"}),
    ),
    # Linking happens later, in identity_links; a hit never brings a member id.
    "marketing": (
        "| + `marketing` | the visitor may be linked to a registered member (see Privacy "
        "operations) |",
        frozenset(),
    ),
}
# What a necessary-only hit of this test fills; every other column stays empty.
NECESSARY = frozenset(
    {
        "event_id",
        "ts_ms",
        "day",
        "kind",
        "site",
        "name",
        "url",
        "referrer",
        "ref_medium",
        "ref_source",
        "ref_term",
        "ip",
        "ip_full",
        "user_agent",
        "browser",
        "browser_version",
        "os",
        "os_version",
        "device",
        "country",
        "asn",
        "as_org",
        "campaign",
        "purposes",
        "consent_signal",
        "policy_version",
        "retention_class",
        "source",
        "props",
    }
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
COMBINATIONS = [
    frozenset(c) for n in range(len(PURPOSES) + 1) for c in itertools.combinations(PURPOSES, n)
]


@pytest.fixture(scope="module")
def enricher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Enricher]:
    city, asn = build_geo_databases(tmp_path_factory.mktemp("geo"))
    built = Enricher(
        policy=ConsentPolicy(),
        user_agents=UserAgentParser(),
        geo=GeoLookup.open(str(city), str(asn)),
        referrers=ReferrerClassifier(("shop.example",)),
        trusted_proxies=TrustedProxies.from_cidrs(()),
        visitor_key=b"k" * 32,
    )
    yield built
    built.geo.close()


def _hit(kind: str = "event", suppressed: bool = False) -> Hit:
    """A hit that brings a value for every column a browser can fill."""
    return Hit(
        kind=kind,
        ts_ms=1_700_000_000_000,
        source="beacon",
        peer="203.0.113.77",
        site="shop",
        name="signup",
        url="https://shop.example/cart?x=1",
        referrer="https://www.google.com/search?q=sneakers",
        user_agent=FIREFOX,
        accept_language="ja-JP,ja;q=0.9",
        screen="1920x1080",
        visitor_cookie="cookie-value",
        campaign="spring",
        props={"plan": "pro"},
        suppressed=suppressed,
    )


def _filled(value: object) -> bool:
    return value not in (None, "", 0, (), [])


def test_the_readme_still_says_what_this_test_checks() -> None:
    text = README.read_text()
    for row, _ in README_ROWS.values():
        assert row in text


@pytest.mark.parametrize("purposes", COMBINATIONS, ids=lambda p: "+".join(sorted(p)) or "none")
def test_each_combination_of_purposes_keeps_exactly_the_readme_fields(
    enricher: Enricher, purposes: frozenset[str]
) -> None:
    decision = ConsentDecision(tuple(p for p in PURPOSES if p in purposes), "explicit")
    row = enricher.build(_hit(), decision).event.to_row()
    assert set(row) == set(COLUMNS)
    granted = purposes | {"necessary"}
    expected = NECESSARY.union(*(README_ROWS[p][1] for p in granted))
    assert {name for name, value in row.items() if _filled(value)} == expected
    assert row["ip"] == "203.0.113.0" and row["ip_full"] == "203.0.113.77"
    assert (row["language"], row["city"]) == (
        ("ja-jp", "Tokyo") if "statistics" in granted else ("", "")
    )


def test_a_consent_change_keeps_the_browsers_pseudonym_even_when_it_withdraws(
    enricher: Enricher,
) -> None:
    decision = ConsentDecision(("necessary",), "explicit")
    assert enricher.build(_hit("consent"), decision).event.visitor_id
    assert enricher.build(_hit("consent", suppressed=True), decision).event.visitor_id is None


def test_a_suppressed_subject_keeps_no_identifier_whatever_it_granted(enricher: Enricher) -> None:
    decision = ConsentDecision(PURPOSES, "explicit")
    event = enricher.build(_hit(suppressed=True), decision).event
    assert (event.visitor_id, event.member_id, event.recipient) == (None, None, None)
    assert event.language == "ja-jp"  # statistics are not identifiers


def test_the_table_and_this_test_agree_on_every_column() -> None:
    named = NECESSARY.union(*(cols for _, cols in README_ROWS.values()))
    # The rest is never filled by a browser's hit: a member id, a reverse-DNS host (filled
    # later, from the address), the access-log and e-mail fields, and the bot flag.
    rest = {"member_id", "host", "recipient", "target_url", "method", "status", "bytes_sent"}
    rest |= {"request_time_ms", "is_bot", "automated"}
    assert named | rest == {c.name for c in EVENT_COLUMNS}
