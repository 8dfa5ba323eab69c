"""IAB TCF v2 TC strings: which purposes the visitor consented to, or a refusal saying why not.

A TC string is dot-separated segments of URL-safe base64; the first is the core segment, a run
of fixed-width bit fields laid down by IAB Tech Lab's "Consent string and vendor list formats
v2" (TCF v2.2 and v2.3 kept that layout; they changed the policy, signalled by
`TcfPolicyVersion`). ashiato needs only the core segment's purpose consents, but it walks the
whole core segment, vendor sections and publisher restrictions included, so that a truncated or
garbled string is refused rather than read as "no consent" or, worse, as some consent.

Hand-written rather than a dependency: the PyPI decoders predate v2.2, and the one most used
reads past the end of a short string as zeros, which is the guessing this module exists to
avoid.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass

from ashiato.beacon.errors import InvalidInput

MAX_LENGTH = 8192
"""Longer strings are refused unread: real ones, with every vendor segment, stay far below."""

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+={0,2}")


@dataclass(frozen=True, slots=True)
class TCString:
    """What ashiato reads from a TC string's core segment."""

    cmp_id: int
    policy_version: int
    consent_language: str
    purposes: frozenset[int]
    """The purposes (1-24) the visitor consented to; legitimate interest is not consent."""
    purpose_one_treatment: bool
    """Purpose 1 was not disclosed (so its consent bit is 0 without a refusal behind it)."""


class _Bits:
    """A big-endian bit reader over one base64url segment that refuses to read past its end."""

    __slots__ = ("_end", "_pos", "_value")

    def __init__(self, segment: str) -> None:
        text = segment.rstrip("=")
        try:
            data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except binascii.Error:  # one character past a whole number of bytes
            raise _refusal("its length is not that of base64") from None
        self._value = int.from_bytes(data, "big")
        self._end = 8 * len(data)
        self._pos = 0

    def read(self, width: int, field: str) -> int:
        """The next `width` bits as an unsigned integer."""
        self.skip(width, field)
        return (self._value >> (self._end - self._pos)) & ((1 << width) - 1)

    def skip(self, width: int, field: str) -> None:
        """Step over `width` bits; a string that ends before them is refused."""
        if self._pos + width > self._end:
            raise _refusal(f"it ends inside {field}")
        self._pos += width


def _refusal(why: str) -> InvalidInput:
    return InvalidInput(f"gdpr_consent is not a TCF v2 TC string: {why}", "bad_tcf")


@functools.lru_cache(maxsize=1024)
def decode(text: str) -> TCString:
    """The core segment of TC string `text`; InvalidInput (reason `bad_tcf`) if it is not one.

    Only version 2 is read: TCF v1 strings have been retired since 2020. Cached, since a
    visitor's string comes back with each of their hits (refusals are not cached).
    """
    if len(text) > MAX_LENGTH:
        raise _refusal(f"longer than {MAX_LENGTH} characters")
    segments = text.split(".")
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        raise _refusal("a segment is empty or not URL-safe base64")
    bits = _Bits(segments[0])
    version = bits.read(6, "Version")
    if version != 2:
        raise _refusal(f"version {version}, not 2")
    bits.skip(36 + 36, "Created, LastUpdated")
    cmp_id = bits.read(12, "CmpId")
    bits.skip(12 + 6, "CmpVersion, ConsentScreen")
    language = bits.read(12, "ConsentLanguage")
    bits.skip(12, "VendorListVersion")
    policy_version = bits.read(6, "TcfPolicyVersion")
    bits.skip(1 + 1 + 12, "IsServiceSpecific, UseNonStandardTexts, SpecialFeatureOptIns")
    consents = bits.read(24, "PurposesConsent")
    bits.skip(24, "PurposesLITransparency")
    purpose_one_treatment = bits.read(1, "PurposeOneTreatment") == 1
    bits.skip(12, "PublisherCC")
    _vendor_section(bits, "vendor consents")
    _vendor_section(bits, "vendor legitimate interests")
    for _ in range(bits.read(12, "NumPubRestrictions")):
        bits.skip(6 + 2, "a publisher restriction")
        _ranges(bits, "a publisher restriction's vendors")
    return TCString(
        cmp_id=cmp_id,
        policy_version=policy_version,
        consent_language=_letters(language),
        # Bit 1 of the 24 is purpose 1, the most significant one.
        purposes=frozenset(p for p in range(1, 25) if consents >> (24 - p) & 1),
        purpose_one_treatment=purpose_one_treatment,
    )


def _vendor_section(bits: _Bits, name: str) -> None:
    """Walk a vendor section: MaxVendorId, then a bit field of that many bits or ranges."""
    max_vendor = bits.read(16, f"{name} (MaxVendorId)")
    if bits.read(1, f"{name} (IsRangeEncoding)"):
        _ranges(bits, name)
    else:
        bits.skip(max_vendor, f"{name} (BitField)")


def _ranges(bits: _Bits, name: str) -> None:
    """Walk NumEntries range entries: one vendor id, or a first and a last."""
    for _ in range(bits.read(12, f"{name} (NumEntries)")):
        if bits.read(1, f"{name} (IsARange)"):
            first = bits.read(16, f"{name} (StartVendorId)")
            if bits.read(16, f"{name} (EndVendorId)") < first:
                raise _refusal(f"{name} has a range that ends before it starts")
        else:
            bits.skip(16, f"{name} (VendorId)")


def _letters(value: int) -> str:
    """Two letters from 12 bits, each 6 bits counting from A (a ConsentLanguage)."""
    return chr(ord("A") + (value >> 6)) + chr(ord("A") + (value & 63))
