"""Country, region, city and network of an IP address from MaxMind-format databases."""

from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass

import maxminddb
from maxminddb.types import Record

from ashiato.beacon.errors import BeaconError
from ashiato.beacon.netaddr import normalize_ip

# Ranges that never appear in a geo database; answering them locally skips the tree walk.
# Documentation ranges (TEST-NET, 2001:db8::/32) are left to the database on purpose so
# test databases can use them.
_LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    )
)
# Lookup failures that a damaged or mismatched database can cause; a hit must survive them.
_READ_ERRORS = (maxminddb.InvalidDatabaseError, ValueError, TypeError, OSError)
_MAX_TEXT = 200


class GeoDatabaseError(BeaconError):
    """A configured GeoIP database file is missing, unreadable or not a MaxMind DB."""


@dataclass(frozen=True, slots=True)
class GeoInfo:
    """Where an address is, as far as the databases know; "" and 0 mean unknown."""

    country: str = ""
    region: str = ""
    city: str = ""
    asn: int = 0
    as_org: str = ""


_UNKNOWN = GeoInfo()


class GeoLookup:
    """Looks addresses up in a GeoLite2-City (or -Country) and a GeoLite2-ASN database.

    Either reader may be None, and its fields then stay empty. Results are kept in a
    bounded LRU cache because visitors come back, and a cache hit is far cheaper than a
    tree walk.
    """

    def __init__(
        self,
        city_reader: maxminddb.Reader | None,
        asn_reader: maxminddb.Reader | None,
        cache_size: int = 50_000,
    ) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must not be negative, got {cache_size}")
        self._city = city_reader
        self._asn = asn_reader
        self._cached = functools.lru_cache(maxsize=cache_size)(self._lookup_uncached)

    @classmethod
    def open(
        cls,
        city_path: str | os.PathLike[str] | None,
        asn_path: str | os.PathLike[str] | None,
    ) -> GeoLookup:
        """Open the database files once at start-up; None or "" leaves that part out.

        Raises GeoDatabaseError naming the path if a file is missing, unreadable, not a
        MaxMind DB, or plainly the wrong kind (an ASN database given as the city one or
        the other way round).
        """
        city = _open_reader(city_path, wrong_kinds=("ASN",))
        try:
            asn = _open_reader(asn_path, wrong_kinds=("City", "Country"))
        except GeoDatabaseError:
            if city is not None:
                city.close()
            raise
        return cls(city, asn)

    def lookup(self, ip: str) -> GeoInfo:
        """What the databases say about `ip`; empty for bad, local or unknown addresses."""
        address = normalize_ip(ip)
        if not address:
            return _UNKNOWN
        return self._cached(address)

    def close(self) -> None:
        """Release the database files; later lookups answer with an empty GeoInfo."""
        readers = (self._city, self._asn)
        self._city = self._asn = None
        self._cached.cache_clear()
        for reader in readers:
            if reader is not None:
                reader.close()

    def _lookup_uncached(self, address: str) -> GeoInfo:
        if _is_local(ipaddress.ip_address(address)):
            return _UNKNOWN
        city = _get(self._city, address)
        asn = _get(self._asn, address)
        if city is None and asn is None:
            return _UNKNOWN
        number = _field(asn, "autonomous_system_number")
        return GeoInfo(
            country=_text(_field(city, "country", "iso_code")),
            region=_text(
                _field(city, "subdivisions", 0, "iso_code")
                or _field(city, "subdivisions", 0, "names", "en")
            ),
            city=_text(_field(city, "city", "names", "en")),
            asn=number if isinstance(number, int) and not isinstance(number, bool) else 0,
            as_org=_text(_field(asn, "autonomous_system_organization")),
        )


def _open_reader(
    path: str | os.PathLike[str] | None, *, wrong_kinds: tuple[str, ...]
) -> maxminddb.Reader | None:
    if path is None or not os.fspath(path):
        return None
    try:
        reader = maxminddb.open_database(os.fspath(path))
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise GeoDatabaseError(f"cannot open GeoIP database {os.fspath(path)!r}: {exc}") from exc
    database_type = str(reader.metadata().database_type)
    if any(kind in database_type for kind in wrong_kinds):
        reader.close()
        raise GeoDatabaseError(
            f"GeoIP database {os.fspath(path)!r} is a {database_type!r} database,"
            f" which belongs in the other setting"
        )
    return reader


def _is_local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or any(address in network for network in _LOCAL_NETWORKS)
    )


def _get(reader: maxminddb.Reader | None, address: str) -> Record | None:
    if reader is None:
        return None
    try:
        return reader.get(address)
    except _READ_ERRORS:
        # An IPv6 address in an IPv4-only database lands here too: it is simply not there.
        return None


def _field(record: Record | None, *path: str | int) -> Record | None:
    """Walk nested maps and lists, giving None where the shape is not what was expected."""
    value = record
    for step in path:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        elif isinstance(step, int) and isinstance(value, list) and len(value) > step:
            value = value[step]
        else:
            return None
    return value


def _text(value: Record | None) -> str:
    return value[:_MAX_TEXT] if isinstance(value, str) else ""
