"""The TC string decoder against published example strings, and what it refuses."""

from __future__ import annotations

import pytest

from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.tcf import MAX_LENGTH, decode
from tests.tcf_strings import (
    IAB_ALL_SEGMENTS,
    IAB_PURPOSES_2_10,
    IAB_PURPOSES_3_TO_9,
    IAB_V1,
    IAB_VENDOR_RANGES,
    POLICY_VERSION,
    PREBID_ALL,
    PREBID_EVEN,
    PREBID_NONE,
    PREBID_ODD,
    PURPOSES_CONSENT,
    granting,
    with_field,
)


def test_the_iab_example_decodes_to_its_published_fields() -> None:
    tc = decode(IAB_PURPOSES_2_10)
    assert (tc.cmp_id, tc.policy_version, tc.consent_language) == (675, 2, "EN")
    assert tc.purposes == {2, 10}
    assert tc.purpose_one_treatment


@pytest.mark.parametrize(
    ("text", "purposes"),
    [
        (IAB_PURPOSES_3_TO_9, {3, 4, 5, 6, 7, 8, 9}),
        # Disclosed-vendor, allowed-vendor and publisher segments follow the core one.
        (IAB_ALL_SEGMENTS, {3, 4, 5, 6, 7, 8, 9}),
        (IAB_VENDOR_RANGES, set()),
        (PREBID_ODD, {1, 3, 5, 7, 9}),
        (PREBID_EVEN, {2, 4, 6, 8, 10}),
        (PREBID_ALL, set(range(1, 11))),
        (PREBID_NONE, set()),
    ],
)
def test_published_strings_give_their_published_purposes(text: str, purposes: set[int]) -> None:
    tc = decode(text)
    assert tc.purposes == purposes
    assert not tc.purpose_one_treatment


def test_a_v2_2_string_has_the_same_layout() -> None:
    # TCF v2.2 (policy version 4) and v2.3 (5) changed the policy, not the core segment.
    for version in (4, 5):
        tc = decode(with_field(PREBID_ODD, POLICY_VERSION, version))
        assert (tc.policy_version, tc.purposes) == (version, {1, 3, 5, 7, 9})
    assert decode(granting([1, 7, 8, 9, 10])).purposes == {1, 7, 8, 9, 10}


def test_the_test_strings_are_built_the_way_the_published_ones_are() -> None:
    # Setting purposes 1-10 on the published all-refused string gives the published all-granted
    # bits: so strings made with `granting` are what a consent manager would send.
    all_ten = with_field(PREBID_ALL, PURPOSES_CONSENT, 0b1111111111 << 14)
    assert all_ten == PREBID_ALL


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(PREBID_ALL[:-2], id="cut-short"),
        pytest.param(IAB_VENDOR_RANGES.split(".")[0][:-2], id="ranges-cut-short"),
        pytest.param("CPh7_cXPh7", id="too-short"),
        pytest.param(IAB_V1, id="tcf-v1"),
        pytest.param("BPh8CjOPh8CjOEZAAAENCZCAAAAAAAAAAAAAAAAAAAAA", id="version-1-field"),
        pytest.param(PREBID_ALL.replace("CZC", "C?C"), id="not-base64url"),
        pytest.param(PREBID_ALL.replace("A", "+", 1), id="plain-base64"),
        pytest.param(PREBID_ALL + "..IBAg", id="empty-segment"),
        pytest.param("", id="empty"),
        pytest.param("A" * (MAX_LENGTH + 1), id="too-long"),
    ],
)
def test_what_is_not_a_v2_tc_string_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode(text)
    assert refused.value.reason == "bad_tcf"


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    core = IAB_VENDOR_RANGES.split(".")[0]
    # Its one vendor-consent range is 702-703: make it 702-0.
    start = 213 + 16 + 1 + 12 + 1 + 16
    with pytest.raises(InvalidInput, match="ends before it starts"):
        decode(with_field(core, (start, 16), 0))
