"""Networks of mail security services, whose e-mail opens and clicks are machines at work.

Corporate mail gateways open every image and follow every link of a message as it arrives,
to look for malware, and mostly do so with an ordinary browser's user agent; the network the
request comes from is what gives them away. The numbers are autonomous systems as a
GeoLite2-ASN database reports them; the `scanner_asns` setting adds more.

Left out on purpose: Google (AS15169) and Apple (AS714, AS6185). Gmail's image proxy and Apple
Mail Privacy Protection already name themselves in the user agent, and people also browse
from those companies' networks. Zscaler and similar web gateways carry employees' own browsing,
not mail scanning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["SCANNER_NETWORKS", "parse_asn", "parse_asns"]

SCANNER_NETWORKS: Final[Mapping[int, str]] = MappingProxyType(
    {
        # Microsoft (MICROSOFT-CORP-MSN-AS-BLOCK): Exchange Online Protection, Defender for
        # Office 365 Safe Links, and the servers that fetch images for Outlook.com and new
        # Outlook, so such opens name Microsoft's network rather than the reader's.
        8075: "Microsoft",
        # Proofpoint, Inc. (PROOFPOINT-ASN-US-EAST): pphosted.com gateways, URL Defense.
        22843: "Proofpoint",
        # Proofpoint, Inc. (PROOFPOINT-ASN-US-WEST).
        26211: "Proofpoint",
        # Proofpoint Ltd. (PROOFPOINT-ASN, Europe): 62.209.50.0/23, its European gateways.
        52129: "Proofpoint",
        # Mimecast (North America): 170.10.128.0/22, us-smtp-delivery-*.mimecast.com.
        30031: "Mimecast",
        # Mimecast (Europe): 185.58.84.0/22, eu-smtp-delivery-*.mimecast.com.
        42427: "Mimecast",
        # Barracuda Networks: 64.235.144.0/20, Email Gateway Defense and Sentinel.
        15324: "Barracuda",
    }
)


def parse_asn(text: str) -> int:
    """An autonomous system number from "8075" or "AS8075"; ValueError if it is neither."""
    digits = text.strip()
    if digits[:2].upper() == "AS":
        digits = digits[2:]
    # isdecimal() also admits other scripts' digits; an ASN is written in ASCII.
    if not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) < 2**32:
        raise ValueError(f"not an AS number: {text!r} (write 8075 or AS8075)")
    return int(digits)


def parse_asns(texts: Iterable[str]) -> frozenset[int]:
    """The AS numbers written in `texts`; ValueError naming the first that is not one."""
    return frozenset(parse_asn(text) for text in texts)
