"""GeoIP lookups against small real databases built by tests.geo_fixtures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import maxminddb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ashiato.beacon.errors import BeaconError
from ashiato.beacon.geo import GeoDatabaseError, GeoInfo, GeoLookup
from tests.geo_fixtures import (
    ASN_RECORDS,
    CITY_RECORDS,
    build_geo_databases,
    write_database,
)

TOKYO = GeoInfo(country="JP", region="13", city="Tokyo", asn=64500, as_org="Example Net")
BERLIN = GeoInfo(country="DE", region="BE", city="Berlin", asn=64501, as_org="Beispiel AG")


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_geo_databases(tmp_path_factory.mktemp("geo"))


@pytest.fixture
def geo(databases: tuple[Path, Path]) -> Iterator[GeoLookup]:
    city, asn = databases
    lookup = GeoLookup.open(str(city), str(asn))
    yield lookup
    lookup.close()


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", TOKYO),
        ("203.0.113.0", TOKYO),
        ("203.0.113.77:51000", TOKYO),
        ("::ffff:203.0.113.77", TOKYO),
        ("2001:db8::1", BERLIN),
        ("[2001:db8:1234::99]:443", BERLIN),
        ("198.51.100.1", GeoInfo(country="US", region="Oregon")),
        ("192.0.2.10", GeoInfo(asn=64502, as_org="Only ASN")),
    ],
)
def test_lookup_finds_ipv4_and_ipv6(geo: GeoLookup, ip: str, expected: GeoInfo) -> None:
    assert geo.lookup(ip) == expected


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "2001:db9::1",
        "203.0.114.1",
        "10.1.2.3",
        "192.168.0.1",
        "100.64.0.1",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "224.0.0.1",
        "0.0.0.0",
        "",
        "not an ip",
        "203.0.113.300",
    ],
)
def test_unknown_local_and_invalid_addresses_are_empty(geo: GeoLookup, ip: str) -> None:
    assert geo.lookup(ip) == GeoInfo()


def test_absent_readers_give_empty_info(databases: tuple[Path, Path]) -> None:
    nothing = GeoLookup.open(None, "")
    city_only = GeoLookup.open(databases[0], None)
    try:
        assert nothing.lookup("203.0.113.77") == GeoInfo()
        assert city_only.lookup("203.0.113.77") == GeoInfo(country="JP", region="13", city="Tokyo")
    finally:
        nothing.close()
        city_only.close()


def test_readers_can_be_handed_in(databases: tuple[Path, Path]) -> None:
    asn_reader = maxminddb.open_database(str(databases[1]))
    lookup = GeoLookup(None, asn_reader, cache_size=0)
    try:
        assert lookup.lookup("2001:db8::5") == GeoInfo(asn=64501, as_org="Beispiel AG")
    finally:
        lookup.close()


def test_results_are_cached_and_close_empties_lookups(databases: tuple[Path, Path]) -> None:
    lookup = GeoLookup.open(*databases)
    first = lookup.lookup("203.0.113.8")

    assert lookup.lookup("203.0.113.8:9999") is first
    lookup.close()
    lookup.close()  # closing twice is harmless
    assert lookup.lookup("203.0.113.8") == GeoInfo()


def test_ipv6_in_an_ipv4_only_database_is_not_found(tmp_path: Path) -> None:
    v4_city = write_database(
        tmp_path / "v4.mmdb",
        "GeoLite2-City",
        {cidr: record for cidr, record in CITY_RECORDS.items() if ":" not in cidr},
        ip_version=4,
    )
    lookup = GeoLookup.open(v4_city, None)
    try:
        assert lookup.lookup("203.0.113.1").country == "JP"
        assert lookup.lookup("2001:db8::1") == GeoInfo()
    finally:
        lookup.close()


def test_missing_file_is_an_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "GeoLite2-City.mmdb"

    with pytest.raises(GeoDatabaseError, match=r"nope/GeoLite2-City\.mmdb") as caught:
        GeoLookup.open(str(missing), None)
    assert isinstance(caught.value, BeaconError)


@pytest.mark.parametrize("content", [b"", b"this is not a MaxMind database\n" * 100])
def test_non_mmdb_file_is_an_error_naming_the_path(
    databases: tuple[Path, Path], tmp_path: Path, content: bytes
) -> None:
    bogus = tmp_path / "bogus.mmdb"
    bogus.write_bytes(content)

    with pytest.raises(GeoDatabaseError, match=r"bogus\.mmdb"):
        GeoLookup.open(databases[0], str(bogus))


def test_directory_is_an_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match=re.escape(str(tmp_path))):
        GeoLookup.open(str(tmp_path), None)


def test_swapped_databases_are_refused(databases: tuple[Path, Path]) -> None:
    city, asn = databases

    with pytest.raises(GeoDatabaseError, match="GeoLite2-ASN"):
        GeoLookup.open(asn, None)
    with pytest.raises(GeoDatabaseError, match="GeoLite2-City"):
        GeoLookup.open(None, city)


def test_negative_cache_size_is_refused() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        GeoLookup(None, None, cache_size=-1)


def test_fixture_tables_cover_both_families() -> None:
    assert any(":" in cidr for cidr in CITY_RECORDS) and any(":" in cidr for cidr in ASN_RECORDS)


@settings(
    database=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ip=st.one_of(st.text(max_size=60), st.ip_addresses().map(str)))
def test_lookup_never_raises(geo: GeoLookup, ip: str) -> None:
    assert isinstance(geo.lookup(ip), GeoInfo)
