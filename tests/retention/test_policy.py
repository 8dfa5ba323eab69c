"""The retention policy: defaults, parsing and validation (pure)."""

from __future__ import annotations

import pytest

from ashiato.beacon.vocabulary import PERIOD_NAMES, RETENTION_CLASSES
from ashiato.retention.policy import RetentionPolicy


def test_defaults_cover_every_event_class_and_the_ledgers() -> None:
    policy = RetentionPolicy()
    assert policy.full_ip == 7
    assert policy.days_for("necessary") == 90
    assert [policy.days_for(c) for c in RETENTION_CLASSES] == [90, 395, 395, 395, 395]
    assert (policy.days_for("audit"), policy.days_for("provisions")) == (1095, 1095)
    assert set(policy.as_dict()) == set(PERIOD_NAMES)


def test_from_mapping_overrides_and_keeps_defaults() -> None:
    policy = RetentionPolicy.from_mapping({"statistics": 30, "full_ip": "0"})
    assert (policy.days_for("statistics"), policy.full_ip, policy.days_for("marketing")) == (
        30,
        0,
        395,
    )


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"statstics": 30}, "statstics"),
        ({"email": "soon"}, "email"),
        ({"audit": 0}, "audit"),
        ({"marketing": True}, "marketing"),
        ({"full_ip": -1}, "full_ip"),
        ({"necessary": 1.5}, "necessary"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=f"retention {key}"):
        RetentionPolicy.from_mapping(values)


def test_an_unknown_class_has_no_period() -> None:
    with pytest.raises(ValueError, match="nope"):
        RetentionPolicy().days_for("nope")
