"""Consent: which purposes a hit may serve, and which signal decided it.

Signals, strongest first (`decide` is the one place that orders them):

1. `explicit`: ashiato's own consent value (`c`, or the consent cookie), the visitor's answer
   to the site's own banner;
2. `tcf`: an IAB TCF v2 TC string (`gdpr_consent`, unless `gdpr=0`);
3. `gcm`: Google Consent Mode (`gcd`, else `gcs`);
4. `gpc`, then `dnt`: the browser's privacy signals (necessary only);
5. `default`: the regime default for visitors who said nothing.

`necessary` is always granted: it covers operating the service and stopping abuse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ashiato.beacon.consent_signals import NO_SIGNALS, ConsentSignals, hear
from ashiato.beacon.vocabulary import ALWAYS, PURPOSES, ConsentSignal, RetentionClass

NECESSARY_ONLY: tuple[str, ...] = (ALWAYS,)
_SPLIT = re.compile(r"[\s,.+|]+")


def _named(text: str) -> set[str]:
    """The lower-cased names in a consent value (comma, dot, plus or space separated)."""
    return {p.strip().lower() for p in _SPLIT.split(text[:512]) if p}


@functools.lru_cache(maxsize=1024)  # consent values repeat from hit to hit
def parse_purposes(text: str) -> tuple[str, ...]:
    """Purposes named in `text` (comma, dot or plus separated), in canonical order.

    Unknown names are ignored rather than refused: a consent manager may know purposes the
    collector does not, and ignoring them can only grant less.
    """
    named = _named(text)
    return tuple(p for p in PURPOSES if p in named or p == ALWAYS)


@functools.lru_cache(maxsize=1024)
def unknown_purposes(text: str) -> tuple[str, ...]:
    """Names in `text` that are not purposes: ignored by `parse_purposes`, worth a warning."""
    return tuple(sorted(_named(text) - set(PURPOSES)))


def cookie_value(purposes: Iterable[str]) -> str:
    """The consent cookie's value for `purposes` (dots: commas are not cookie-safe)."""
    return ".".join(p for p in PURPOSES if p in set(purposes))


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """The operator's consent settings, built once from the configuration."""

    regime: str = "opt-in"
    opt_out_purposes: tuple[str, ...] = ("necessary", "statistics")
    honor_gpc: bool = True
    honor_dnt: bool = True
    version: str = "1"


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """The purposes granted to one hit and the signal that decided them."""

    purposes: tuple[str, ...]
    signal: ConsentSignal

    def allows(self, purpose: str) -> bool:
        """True when `purpose` was granted."""
        return purpose in self.purposes


def decide(
    policy: ConsentPolicy,
    explicit: str | None,
    *,
    gpc: bool = False,
    dnt: bool = False,
    signals: ConsentSignals = NO_SIGNALS,
) -> ConsentDecision:
    """Decide a hit's purposes from its signals; `explicit` None means none was given.

    InvalidInput when a consent manager's signal in `signals` is malformed, whichever signal
    would have decided: a hit that carries a garbled answer is refused, not guessed at.
    """
    heard = hear(signals)
    if explicit is not None:
        return ConsentDecision(parse_purposes(explicit), "explicit")
    if heard.tcf is not None:
        return ConsentDecision(heard.tcf, "tcf")
    if heard.gcm is not None:
        return ConsentDecision(heard.gcm, "gcm")
    if gpc and policy.honor_gpc:
        return ConsentDecision(NECESSARY_ONLY, "gpc")
    if dnt and policy.honor_dnt:
        return ConsentDecision(NECESSARY_ONLY, "dnt")
    if policy.regime == "opt-out":
        return ConsentDecision(parse_purposes(",".join(policy.opt_out_purposes)), "default")
    return ConsentDecision(NECESSARY_ONLY, "default")


def retention_class(purposes: Iterable[str], kind: str) -> RetentionClass:
    """The retention class of an event: e-mail tracking, or its widest purpose."""
    if kind in ("email_open", "email_click"):
        return "email"
    granted = set(purposes)
    # Purposes run narrowest first, and each has the retention class of its own name.
    for purpose in reversed(PURPOSES):
        if purpose in granted:
            return purpose
    return ALWAYS
