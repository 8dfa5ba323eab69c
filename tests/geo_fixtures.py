"""Small real GeoLite2-shaped databases, written with mmdb-writer, for tests to look up.

What `build_geo_databases` puts where:

| network           | city database                                   | ASN database        |
|-------------------|-------------------------------------------------|---------------------|
| 203.0.113.0/24    | JP, region "13" (Tokyo), city "Tokyo"           | AS64500 Example Net |
| 198.51.100.0/24   | US, no subdivision iso_code (region "Oregon"),  | nothing             |
|                   | no city                                         |                     |
| 2001:db8::/32     | DE, region "BE" (Berlin), city "Berlin"         | AS64501 Beispiel AG |
| 192.0.2.0/24      | nothing                                         | AS64502 Only ASN    |

Everything else, e.g. 8.8.8.8 or 2001:db9::1, is in neither database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet

CITY_RECORDS: dict[str, dict[str, Any]] = {
    "203.0.113.0/24": {
        "country": {"iso_code": "JP", "names": {"en": "Japan"}},
        "subdivisions": [{"iso_code": "13", "names": {"en": "Tokyo"}}],
        "city": {"names": {"en": "Tokyo"}},
    },
    "198.51.100.0/24": {
        "country": {"iso_code": "US", "names": {"en": "United States"}},
        "subdivisions": [{"names": {"en": "Oregon"}}],
    },
    "2001:db8::/32": {
        "country": {"iso_code": "DE", "names": {"en": "Germany"}},
        "subdivisions": [{"iso_code": "BE", "names": {"en": "Berlin"}}],
        "city": {"names": {"en": "Berlin"}},
    },
}

ASN_RECORDS: dict[str, dict[str, Any]] = {
    "203.0.113.0/24": {
        "autonomous_system_number": 64500,
        "autonomous_system_organization": "Example Net",
    },
    "2001:db8::/32": {
        "autonomous_system_number": 64501,
        "autonomous_system_organization": "Beispiel AG",
    },
    "192.0.2.0/24": {
        "autonomous_system_number": 64502,
        "autonomous_system_organization": "Only ASN",
    },
}


def build_geo_databases(dir: Path) -> tuple[Path, Path]:
    """Write the city and ASN test databases into `dir`; returns (city path, ASN path)."""
    city_path = dir / "GeoLite2-City.mmdb"
    asn_path = dir / "GeoLite2-ASN.mmdb"
    write_database(city_path, "GeoLite2-City", CITY_RECORDS)
    write_database(asn_path, "GeoLite2-ASN", ASN_RECORDS)
    return city_path, asn_path


def write_database(
    path: Path, database_type: str, records: dict[str, dict[str, Any]], ip_version: int = 6
) -> Path:
    """Write one database mapping each CIDR to its record, like MaxMind's own files."""
    writer = MMDBWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type=database_type,
        languages=["en"],
        description=f"ashiato test {database_type}",
        # GeoLite2 stores integers as uint32; "auto" would pick uint16 for small numbers.
        int_type="u32",
    )
    for cidr, record in records.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path
