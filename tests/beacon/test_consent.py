"""Consent decisions: signal order, regimes, and the retention class each outcome gets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ashiato.beacon.consent import (
    ConsentPolicy,
    cookie_value,
    decide,
    parse_purposes,
    retention_class,
)

OPT_IN = ConsentPolicy()
OPT_OUT = ConsentPolicy(regime="opt-out", opt_out_purposes=("statistics", "personalization"))


@pytest.mark.parametrize(
    ("text", "purposes"),
    [
        ("", ("necessary",)),
        ("statistics", ("necessary", "statistics")),
        ("Marketing, statistics", ("necessary", "statistics", "marketing")),
        ("personalization.statistics", ("necessary", "statistics", "personalization")),
        ("statistics+tracking+ads", ("necessary", "statistics")),
        ("necessary", ("necessary",)),
    ],
)
def test_purposes_are_parsed_in_canonical_order(text: str, purposes: tuple[str, ...]) -> None:
    assert parse_purposes(text) == purposes
    assert parse_purposes(cookie_value(purposes)) == purposes


def test_an_explicit_value_is_strongest() -> None:
    decision = decide(OPT_OUT, "statistics", gpc=True, dnt=True)
    assert (decision.purposes, decision.signal) == (("necessary", "statistics"), "explicit")
    assert decide(OPT_OUT, "", gpc=False).signal == "explicit"


@pytest.mark.parametrize("policy", [OPT_IN, OPT_OUT])
def test_gpc_then_dnt_mean_necessary_only(policy: ConsentPolicy) -> None:
    assert decide(policy, None, gpc=True, dnt=True).signal == "gpc"
    assert decide(policy, None, dnt=True).signal == "dnt"
    assert decide(policy, None, dnt=True).purposes == ("necessary",)


def test_signals_can_be_switched_off_by_the_operator() -> None:
    policy = ConsentPolicy(regime="opt-out", opt_out_purposes=("statistics",), honor_dnt=False)
    assert decide(policy, None, dnt=True).purposes == ("necessary", "statistics")


def test_regime_defaults() -> None:
    assert decide(OPT_IN, None).purposes == ("necessary",)
    assert decide(OPT_OUT, None).purposes == ("necessary", "statistics", "personalization")
    assert decide(OPT_OUT, None).signal == "default"


@pytest.mark.parametrize(
    ("purposes", "kind", "expected"),
    [
        (("necessary",), "pageview", "necessary"),
        (("necessary", "statistics"), "pageview", "statistics"),
        (("necessary", "statistics", "personalization"), "event", "personalization"),
        (("necessary", "marketing"), "pageview", "marketing"),
        (("necessary", "marketing"), "email_open", "email"),
        (("necessary",), "email_click", "email"),
    ],
)
def test_retention_class(purposes: tuple[str, ...], kind: str, expected: str) -> None:
    assert retention_class(purposes, kind) == expected


@settings(database=None)
@given(st.text())
def test_any_text_grants_at_most_the_known_purposes(text: str) -> None:
    purposes = parse_purposes(text)
    assert purposes[0] == "necessary"
    assert set(purposes) <= {"necessary", "statistics", "personalization", "marketing"}
