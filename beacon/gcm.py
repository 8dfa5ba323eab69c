"""Google Consent Mode v2 as its tags report it: the `gcs` and `gcd` parameters.

`gcs` is `G1` and one digit each for ad_storage and analytics_storage, `1` granted, `0` denied.
It says nothing of ad_user_data and ad_personalization, which v2 added.

`gcd` carries all four. It starts with `1`; the letters at (0-based) positions 2, 4, 6 and 8
are ad_storage, analytics_storage, ad_user_data and ad_personalization, each with a digit
before it, and more may follow (`13r3r3r3r5l1`, `11l1l1l1l1`). Each letter is a base64url
digit (alphabet `0-9a-zA-Z-_`) whose value is 16 + 4 * default + update, where a state is
1 not set, 2 denied, 3 granted: so nine letters. The state in force is the update when there
is one, else the default. Google does not publish this format; it is read the way the tag
debugging tools read it, and anything else is refused, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from ashiato.beacon.errors import InvalidInput

ConsentType = Literal["ad_storage", "analytics_storage", "ad_user_data", "ad_personalization"]
CONSENT_TYPES: Final[tuple[ConsentType, ...]] = get_args(ConsentType)
"""Consent Mode's types, in `gcd`'s order (`gcs` has the first two)."""

State = Literal["granted", "denied"] | None

_GCS = re.compile(r"G1([01])([01])")
_LETTER = "[lmnpqrtuv]"
_GCD = re.compile(rf"1\d({_LETTER})\d({_LETTER})\d({_LETTER})\d({_LETTER})[0-9A-Za-z_-]{{0,32}}")
# Each letter: (default, update); None where that state was not set.
_LETTERS: Final[dict[str, tuple[State, State]]] = {
    "l": (None, None),
    "m": (None, "denied"),
    "n": (None, "granted"),
    "p": ("denied", None),
    "q": ("denied", "denied"),
    "r": ("denied", "granted"),
    "t": ("granted", None),
    "u": ("granted", "denied"),
    "v": ("granted", "granted"),
}


@dataclass(frozen=True, slots=True)
class ConsentMode:
    """The Consent Mode state a hit reported: which types are granted, which have any state."""

    granted: frozenset[ConsentType]
    stated: frozenset[ConsentType]


def parse_gcs(text: str) -> ConsentMode:
    """The state in `gcs`; InvalidInput (reason `bad_gcs`) unless it is `G1` and two of 0/1."""
    match = _GCS.fullmatch(text)
    if match is None:
        raise InvalidInput("gcs must be G1 followed by two digits 0 or 1, like G110", "bad_gcs")
    said = CONSENT_TYPES[:2]
    granted = (t for t, bit in zip(said, match.groups(), strict=True) if bit == "1")
    return ConsentMode(frozenset(granted), frozenset(said))


def parse_gcd(text: str) -> ConsentMode:
    """The state in `gcd`; InvalidInput (reason `bad_gcd`) if it is not in that format."""
    match = _GCD.fullmatch(text)
    if match is None:
        raise InvalidInput(
            "gcd must be 1, then four Consent Mode letters (lmnpqrtuv) each after a digit, "
            "like 13r3r3r3r5l1",
            "bad_gcd",
        )
    states = {t: _in_force(letter) for t, letter in zip(CONSENT_TYPES, match.groups(), strict=True)}
    return ConsentMode(
        frozenset(t for t, state in states.items() if state == "granted"),
        frozenset(t for t, state in states.items() if state is not None),
    )


def _in_force(letter: str) -> State:
    default, update = _LETTERS[letter]
    return update or default
