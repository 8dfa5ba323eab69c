"""Consent signals from the consent managers sites already run: IAB TCF v2 and Google Consent
Mode v2, read from a hit's parameters and mapped onto ashiato's purposes.

The mapping is declared here once (`TCF_PURPOSES`, `GCM_PURPOSES`); the README's tables are
checked against it. A purpose is granted only when every framework purpose it needs is: a
mapping can only grant less than the visitor allowed, never more. Which signal outweighs which
is `beacon.consent.decide`'s business; this module only says what each one says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from ashiato.beacon import tcf
from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.gcm import ConsentType, parse_gcd, parse_gcs
from ashiato.beacon.vocabulary import ALWAYS, PURPOSES, Purpose

__all__ = [
    "GCM_PURPOSES",
    "NO_SIGNALS",
    "PARAMETERS",
    "TCF_PURPOSES",
    "ConsentSignals",
    "Heard",
    "hear",
    "read_signals",
]

PARAMETERS: Final[tuple[str, ...]] = ("gcs", "gcd", "gdpr", "gdpr_consent")
"""The parameter names, the same in the pixel's query and in a beacon event's JSON."""

# Purpose 1, store and/or access information on a device, is needed by all three: the visitor
# cookie, and the language and screen size the tracker reads from the device.
TCF_PURPOSES: Final[Mapping[Purpose, frozenset[int]]] = {
    # 8 measure content performance; 9 understand audiences through statistics.
    "statistics": frozenset({1, 8, 9}),
    # 5 create profiles to personalise content; 6 use profiles to select personalised content.
    "personalization": frozenset({1, 5, 6}),
    # 3 create profiles for personalised advertising; 4 use profiles to select personalised
    # advertising: linking a browser's history to a member for marketing is both.
    "marketing": frozenset({1, 3, 4}),
}
"""The TCF purposes a visitor must have consented to for each of ashiato's purposes."""

GCM_PURPOSES: Final[Mapping[Purpose, frozenset[ConsentType]]] = {
    "statistics": frozenset({"analytics_storage"}),
    "personalization": frozenset({"ad_storage", "ad_personalization"}),
    "marketing": frozenset({"ad_storage", "ad_user_data", "ad_personalization"}),
}
"""The Consent Mode types that must be granted for each of ashiato's purposes."""


@dataclass(frozen=True, slots=True)
class ConsentSignals:
    """A hit's consent-manager parameters as sent; an empty string means not sent."""

    gcs: str = ""
    gcd: str = ""
    gdpr: str = ""
    gdpr_consent: str = ""


NO_SIGNALS: Final = ConsentSignals()
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Heard:
    """What each framework says a hit may serve; None where it says nothing."""

    tcf: tuple[Purpose, ...] | None = None
    gcm: tuple[Purpose, ...] | None = None


_NOTHING: Final = Heard()


def read_signals(params: Mapping[str, object], where: str = "query") -> ConsentSignals:
    """The signals among `params` (a query, or one beacon event); InvalidInput if not text."""
    values: dict[str, str] = {}
    for name in PARAMETERS:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: field {name!r} must be a string")
        values[name] = value
    return ConsentSignals(**values) if values else NO_SIGNALS


def hear(signals: ConsentSignals) -> Heard:
    """What TCF and Consent Mode say, each mapped to ashiato's purposes.

    Every signal sent is checked, whichever ends up deciding: a malformed one raises
    InvalidInput (`bad_tcf`, `bad_gcs`, `bad_gcd`) and the hit is refused. `gdpr=0` says TCF
    does not apply; `gdpr=1` without a string says nothing yet; a string without `gdpr` is the
    consent manager's answer. A `gcd` is preferred to a `gcs` (it carries all four types), unless
    it sets none of them, which is what Google's tags send where Consent Mode is not set up.
    """
    if signals is NO_SIGNALS:
        return _NOTHING
    if signals.gdpr not in ("", "0", "1"):
        raise InvalidInput("gdpr must be 0 or 1", "bad_tcf")
    tc = tcf.decode(signals.gdpr_consent) if signals.gdpr_consent else None
    gcs = parse_gcs(signals.gcs) if signals.gcs else None
    gcd = parse_gcd(signals.gcd) if signals.gcd else None
    mode = gcd if gcd is not None and gcd.stated else gcs
    return Heard(
        tcf=_granted(TCF_PURPOSES, tc.purposes) if tc and signals.gdpr != "0" else None,
        gcm=_granted(GCM_PURPOSES, mode.granted) if mode is not None else None,
    )


def _granted(table: Mapping[Purpose, frozenset[_T]], given: frozenset[_T]) -> tuple[Purpose, ...]:
    """ashiato's purposes whose every requirement in `table` is among `given`."""
    return tuple(p for p in PURPOSES if p == ALWAYS or table[p] <= given)
