"""Google Consent Mode's `gcs` and `gcd` as its tags send them, and what is refused."""

from __future__ import annotations

import pytest

from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.gcm import parse_gcd, parse_gcs

AD, ANALYTICS, USER_DATA, AD_PERSONAL = (
    "ad_storage",
    "analytics_storage",
    "ad_user_data",
    "ad_personalization",
)


@pytest.mark.parametrize(
    ("text", "granted"),
    [("G100", set()), ("G110", {AD}), ("G101", {ANALYTICS}), ("G111", {AD, ANALYTICS})],
)
def test_gcs_states_ad_and_analytics_storage(text: str, granted: set[str]) -> None:
    mode = parse_gcs(text)
    assert mode.granted == granted
    assert mode.stated == {AD, ANALYTICS}


@pytest.mark.parametrize(
    ("text", "granted", "stated"),
    [
        # As Google's tags send them: nothing set up; granted by default; denied by default then
        # granted by the visitor; the same with ad_user_data's digit differing.
        ("11l1l1l1l1", set(), set()),
        ("13l3l3l3l1l1", set(), set()),
        ("13t3t3t3t5l1", {AD, ANALYTICS, USER_DATA, AD_PERSONAL}, None),
        ("13r3r3r3r5l1", {AD, ANALYTICS, USER_DATA, AD_PERSONAL}, None),
        ("13t3t3t2t5l1", {AD, ANALYTICS, USER_DATA, AD_PERSONAL}, None),
        # Denied by default, only analytics granted by the update.
        ("13p3r3p3p5", {ANALYTICS}, None),
        # An update outweighs the default: granted then denied (u), set by the update only (n).
        ("11u1v1m1n", {ANALYTICS, AD_PERSONAL}, None),
        ("11q1q1q1q5", set(), None),
    ],
)
def test_gcd_states_all_four_with_the_update_over_the_default(
    text: str, granted: set[str], stated: set[str] | None
) -> None:
    mode = parse_gcd(text)
    assert mode.granted == granted
    all_four = {AD, ANALYTICS, USER_DATA, AD_PERSONAL}
    assert mode.stated == (stated if stated is not None else all_four)


@pytest.mark.parametrize("text", ["G1", "G11", "G1110", "G200", "G1x1", "g111", "G1 1", "111"])
def test_a_malformed_gcs_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_gcs(text)
    assert refused.value.reason == "bad_gcs"


@pytest.mark.parametrize(
    "text",
    [
        "13r3r3r",  # too short
        "23r3r3r3r5",  # not version 1
        "13a3r3r3r5",  # not one of the nine letters
        "13R3r3r3r5",
        "1rr3r3r3r5",  # a letter where a digit goes
        "13r3r3r3r5" + "l" * 40,  # too long
        "13r3r3r3r5 ",
        "13r3r3r3r5~",
    ],
)
def test_a_malformed_gcd_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_gcd(text)
    assert refused.value.reason == "bad_gcd"
