"""Consent managers' signals: each step of the order `decide` follows, the mapping onto
ashiato's purposes (as the README's table states it), and refusals of malformed signals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ashiato.beacon.consent import ConsentPolicy, decide
from ashiato.beacon.consent_signals import (
    GCM_PURPOSES,
    NO_SIGNALS,
    TCF_PURPOSES,
    ConsentSignals,
    read_signals,
)
from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.payload import parse_body
from ashiato.beacon.vocabulary import CONSENT_SIGNALS, PURPOSES
from tests.tcf_strings import PREBID_ALL, PREBID_NONE, PREBID_ODD, granting

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
OPT_IN = ConsentPolicy()
OPT_OUT = ConsentPolicy(regime="opt-out", opt_out_purposes=("statistics", "personalization"))
ALL = ("necessary", "statistics", "personalization", "marketing")

TCF = ConsentSignals(gdpr="1", gdpr_consent=granting([1, 8, 9]))  # statistics
GCM = ConsentSignals(gcs="G111", gcd="13p3r3p3p5")  # statistics, from gcd
EVERYTHING = ConsentSignals(
    gcs="G111", gcd="13r3r3r3r5l1", gdpr="1", gdpr_consent=granting([1, 3, 4, 5, 6])
)


def test_each_signal_in_turn_decides_when_the_stronger_ones_are_absent() -> None:
    # Every signal present: ashiato's own value wins; take them away one by one, strongest first.
    both = {"gpc": True, "dnt": True}
    assert decide(OPT_OUT, "statistics", **both, signals=EVERYTHING).signal == "explicit"
    tcf = decide(OPT_OUT, None, **both, signals=EVERYTHING)
    assert (tcf.signal, tcf.purposes) == ("tcf", ("necessary", "personalization", "marketing"))
    gcm = decide(OPT_OUT, None, **both, signals=ConsentSignals(gcs="G111", gcd="13r3r3r3r5l1"))
    assert (gcm.signal, gcm.purposes) == ("gcm", ALL)
    assert decide(OPT_OUT, None, **both).signal == "gpc"
    assert decide(OPT_OUT, None, dnt=True).signal == "dnt"
    assert decide(OPT_OUT, None).signal == "default"


def test_the_order_is_the_vocabularys() -> None:
    assert CONSENT_SIGNALS[:6] == ("explicit", "tcf", "gcm", "gpc", "dnt", "default")


def test_a_consent_managers_answer_outweighs_the_regime_default_both_ways() -> None:
    # Under opt-out a refusal in TCF grants less than the default; under opt-in a grant more.
    refused = ConsentSignals(gdpr="1", gdpr_consent=PREBID_NONE)
    assert decide(OPT_OUT, None, signals=refused).purposes == ("necessary",)
    assert decide(OPT_IN, None, signals=ConsentSignals(gdpr_consent=PREBID_ALL)).purposes == ALL


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        # TCF does not apply: the string is not used, Consent Mode decides.
        (ConsentSignals(gdpr="0", gdpr_consent=PREBID_ALL, gcs="G100"), "gcm"),
        # TCF applies but the visitor has not answered: the next signal decides.
        (ConsentSignals(gdpr="1", gcs="G101"), "gcm"),
        (ConsentSignals(gdpr="1"), "default"),
        # Consent Mode not set up: Google's tags send no state at all.
        (ConsentSignals(gcd="11l1l1l1l1"), "default"),
        (ConsentSignals(gcd="11l1l1l1l1", gcs="G100"), "gcm"),
        (NO_SIGNALS, "default"),
    ],
)
def test_a_framework_that_says_nothing_lets_the_next_signal_decide(
    signals: ConsentSignals, expected: str
) -> None:
    assert decide(OPT_IN, None, signals=signals).signal == expected


@pytest.mark.parametrize(
    ("tcf_purposes", "granted"),
    [
        ([1, 7, 8, 9, 10], ("necessary", "statistics")),
        ([8, 9], ("necessary",)),  # nothing without purpose 1
        ([1, 8], ("necessary",)),
        ([1, 5, 6], ("necessary", "personalization")),
        ([1, 2, 3, 4], ("necessary", "marketing")),
        ([1, 2, 7, 10, 11], ("necessary",)),
        (range(1, 12), ALL),
    ],
)
def test_tcf_purposes_map_onto_ashiatos(tcf_purposes: list[int], granted: tuple[str, ...]) -> None:
    signals = ConsentSignals(gdpr="1", gdpr_consent=granting(tcf_purposes))
    decision = decide(OPT_IN, None, signals=signals)
    assert (decision.signal, decision.purposes) == ("tcf", granted)


def test_a_published_string_maps_as_its_purposes_say() -> None:
    # Prebid's example grants 1, 3, 5, 7 and 9: no ashiato purpose has all it needs.
    decision = decide(OPT_IN, None, signals=ConsentSignals(gdpr_consent=PREBID_ODD))
    assert decision.purposes == ("necessary",)


@pytest.mark.parametrize(
    ("signals", "granted"),
    [
        (ConsentSignals(gcs="G100"), ("necessary",)),
        (ConsentSignals(gcs="G101"), ("necessary", "statistics")),
        # gcs cannot grant more: it does not carry ad_user_data and ad_personalization.
        (ConsentSignals(gcs="G111"), ("necessary", "statistics")),
        (GCM, ("necessary", "statistics")),
        (ConsentSignals(gcd="11v1p1p1v1"), ("necessary", "personalization")),
        (ConsentSignals(gcd="11n1m1n1n1"), ("necessary", "personalization", "marketing")),
        # ad_user_data without ad_personalization is no marketing.
        (ConsentSignals(gcd="11v1v1v1p"), ("necessary", "statistics")),
        (ConsentSignals(gcd="13t3t3t3t5l1"), ALL),
    ],
)
def test_consent_mode_types_map_onto_ashiatos(
    signals: ConsentSignals, granted: tuple[str, ...]
) -> None:
    decision = decide(OPT_IN, None, signals=signals)
    assert (decision.signal, decision.purposes) == ("gcm", granted)


@pytest.mark.parametrize(
    ("signals", "reason"),
    [
        (ConsentSignals(gdpr="yes", gdpr_consent=PREBID_ALL), "bad_tcf"),
        (ConsentSignals(gdpr_consent=PREBID_ALL[:-3]), "bad_tcf"),
        # Checked even where it would not decide: TCF does not apply, or `c` outweighs it.
        (ConsentSignals(gdpr="0", gdpr_consent="not a tc string"), "bad_tcf"),
        (ConsentSignals(gcs="G1", gdpr_consent=PREBID_ALL), "bad_gcs"),
        (ConsentSignals(gcd="13x3r3r3r5", gcs="G111"), "bad_gcd"),
    ],
)
@pytest.mark.parametrize("explicit", [None, "statistics"])
def test_a_malformed_signal_is_refused_not_guessed(
    signals: ConsentSignals, reason: str, explicit: str | None
) -> None:
    with pytest.raises(InvalidInput) as refused:
        decide(OPT_IN, explicit, signals=signals)
    assert refused.value.reason == reason


def test_the_readme_states_the_mapping() -> None:
    rows = re.findall(r"^\| `(\w+)` \| ([\d, ]+) \| ((?:`\w+`(?:, )?)+) \|$", README, flags=re.M)
    documented = {
        purpose: ({int(n) for n in tcf.split(", ")}, set(re.findall(r"`(\w+)`", gcm)))
        for purpose, tcf, gcm in rows
    }
    assert documented == {p: (set(TCF_PURPOSES[p]), set(GCM_PURPOSES[p])) for p in PURPOSES[1:]}


def test_the_beacon_carries_the_same_fields_as_text() -> None:
    [event] = parse_body(b'{"s": "a", "gcs": "G101", "gdpr": "1", "gdpr_consent": "CPh"}')
    assert event.signals == ConsentSignals(gcs="G101", gdpr="1", gdpr_consent="CPh")
    with pytest.raises(InvalidInput, match="'gdpr' must be a string"):
        parse_body(b'{"s": "a", "gdpr": 1}')
    assert read_signals({"s": "a"}) is NO_SIGNALS
