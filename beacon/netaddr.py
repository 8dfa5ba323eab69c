"""Client IP addresses: parsing, truncation for privacy, and proxy-header resolution."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Longer than any address with brackets, zone id and port; anything longer is not an address.
_MAX_ADDRESS_LENGTH = 128
# A proxy chain longer than this is not a chain a sane deployment produces.
_MAX_HEADER_LENGTH = 8192
_PORT = re.compile(r"[0-9]{1,5}")
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")


def normalize_ip(value: str) -> str:
    """The canonical text of an address, or "" if `value` is not one.

    Accepts what sockets and proxies hand over: ``1.2.3.4``, ``1.2.3.4:80``,
    ``[2001:db8::1]``, ``[2001:db8::1]:443`` and ``fe80::1%eth0``. Ports and zone ids are
    dropped, IPv6 is compressed and lowercased, and IPv4-mapped IPv6 (``::ffff:1.2.3.4``)
    becomes plain IPv4 so one client has one spelling.
    """
    address = _parse(value)
    return "" if address is None else str(address)


def truncate_ip(ip: str, v4_prefix: int = 24, v6_prefix: int = 48) -> str:
    """Zero the host bits of an address so it no longer names one subscriber; "" if invalid.

    ``203.0.113.77`` becomes ``203.0.113.0`` and ``2001:db8:abcd:12::1`` becomes
    ``2001:db8:abcd::`` with the default prefixes.
    """
    if not 0 <= v4_prefix <= 32 or not 0 <= v6_prefix <= 128:
        raise ValueError(f"prefixes out of range: /{v4_prefix} for IPv4, /{v6_prefix} for IPv6")
    address = _parse(ip)
    if address is None:
        return ""
    prefix = v4_prefix if address.version == 4 else v6_prefix
    return str(ipaddress.ip_network((address, prefix), strict=False).network_address)


@dataclass(frozen=True)
class TrustedProxies:
    """The networks whose forwarding headers are believed."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> TrustedProxies:
        """Parse CIDRs (or single addresses); raises ValueError naming the first bad entry."""
        if isinstance(cidrs, str):
            # A bare string would be iterated character by character.
            raise ValueError(f"trusted proxies must be a list of CIDRs, not the string {cidrs!r}")
        networks: list[IPNetwork] = []
        for entry in cidrs:
            try:
                network = ipaddress.ip_network(str(entry).strip(), strict=True)
            except ValueError as exc:
                raise ValueError(f"bad trusted proxy CIDR {entry!r}: {exc}") from exc
            networks.append(_unmap_network(network))
        return cls(tuple(networks))

    def __contains__(self, ip: object) -> bool:
        address = _parse(ip) if isinstance(ip, str) else None
        return address is not None and any(address in network for network in self.networks)


def client_ip(
    peer: str,
    x_forwarded_for: str | None,
    forwarded: str | None,
    trusted: TrustedProxies,
) -> str:
    """The address of the client behind any trusted proxies; never raises.

    Headers are believed only when the socket peer is a trusted proxy, because anyone can
    send them. The chain (``Forwarded: for=`` if it names any hop, else
    ``X-Forwarded-For``) is read from the right, the end our own proxies appended to, and
    the first untrusted hop is the client. A garbage hop means the chain beyond it cannot be
    believed, so the peer is returned. If every hop is trusted the leftmost one is returned.
    An unparsable peer (a Unix socket, say) gives "". A header sent as several lines must
    arrive joined with ", " in order, since a proxy may append its own line after the client's.
    """
    peer_address = normalize_ip(peer)
    if not peer_address or peer_address not in trusted:
        return peer_address
    chain = _forwarded_chain(forwarded)
    if chain is None:
        return peer_address
    if not chain:
        chain = _xff_chain(x_forwarded_for)
    client = peer_address
    for hop in reversed(chain):
        client = normalize_ip(hop)
        if not client:
            return peer_address
        if client not in trusted:
            return client
    return client


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str) or len(value) > _MAX_ADDRESS_LENGTH:
        return None
    host = value.strip()
    port: str | None = None
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket or ":" not in host:
            return None
        if rest:
            colon, _, port = rest.partition(":")
            if colon:
                return None
    elif host.count(":") == 1:
        # Exactly one colon: IPv4 with a port. IPv6 has two or more and no port unbracketed.
        host, _, port = host.partition(":")
    if port is not None and not (_PORT.fullmatch(port) and int(port) <= 65535):
        return None
    if "%" in host:
        # A zone id only means something on the host that wrote it.
        host, _, zone = host.partition("%")
        if ":" not in host or not zone:
            return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unmap_network(network: IPNetwork) -> IPNetwork:
    """Turn ``::ffff:10.0.0.0/104`` into ``10.0.0.0/8``, matching how addresses are parsed."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_V4):
        base = int(network.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((base, network.prefixlen - 96))
    return network


def _xff_chain(header: str | None) -> list[str]:
    if not isinstance(header, str):
        return []
    if len(header) > _MAX_HEADER_LENGTH:
        # The walk reads from the right, where our proxies appended. Cutting the left keeps a
        # client who sends a long header line from pushing our proxies' hops out of the chain;
        # the element the cut split is dropped.
        header = header[-_MAX_HEADER_LENGTH:].partition(",")[2]
    # Empty list elements are allowed by RFC 9110 and mean nothing.
    return [hop for hop in (part.strip() for part in header.split(",")) if hop]


def _forwarded_chain(header: str | None) -> list[str] | None:
    """The ``for=`` values of an RFC 7239 header, [] if it names none, None if garbled.

    An element without ``for=`` is kept as "" so the walk treats it as a garbage hop.
    """
    if not isinstance(header, str) or not header.strip():
        return []
    if len(header) > _MAX_HEADER_LENGTH:
        return None
    chain: list[str] = []
    for element in _split_quoted(header, ","):
        if element is None:
            return None
        if not element.strip():
            continue
        hop = ""
        for pair in _split_quoted(element, ";"):
            if pair is None:
                return None
            name, equals, raw = pair.strip().partition("=")
            if not equals:
                return None
            if name.strip().lower() == "for":
                hop = _unquote(raw.strip())
        chain.append(hop)
    return chain if any(chain) else []


def _split_quoted(text: str, separator: str) -> list[str | None]:
    """Split on `separator` outside double quotes; a trailing None marks an unclosed quote."""
    parts: list[str | None] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append(None if quoted or escaped else "".join(current))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
