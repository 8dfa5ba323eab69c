"""The sendBeacon body parser: shapes it accepts, messages for what it refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ashiato.beacon.errors import InvalidInput
from ashiato.beacon.payload import BeaconEvent, parse_body, screen_size


def test_one_event() -> None:
    body = {
        "s": "a",
        "u": "https://a/",
        "r": "",
        "e": "signup",
        "c": "statistics",
        "l": "ja",
        "sw": 1920,
        "sh": "1080",
        "p": {"plan": "pro"},
        "unknown": 1,
    }
    assert parse_body(json.dumps(body).encode()) == [
        BeaconEvent(
            "a", "https://a/", "", "signup", "statistics", "ja", "1920x1080", {"plan": "pro"}
        )
    ]


def test_a_batch_as_list_or_object() -> None:
    assert len(parse_body(b'[{"s": "a"}, {"s": "b"}]')) == 2
    assert [e.site for e in parse_body(b'{"events": [{"s": "a"}]}')] == ["a"]
    assert parse_body(b'{"s": "a"}')[0].name == "pageview"
    assert parse_body(b'{"s": "a"}')[0].consent is None


@pytest.mark.parametrize(
    ("w", "h", "size"),
    [(390, 844, "390x844"), (0, 5, ""), ("x", 1, ""), (None, 1, ""), (10**9, 1, "")],
)
def test_screen_size(w: object, h: object, size: str) -> None:
    assert screen_size(w, h) == size


@settings(database=None, max_examples=300)
@given(
    st.binary(max_size=512)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda doc: json.dumps(doc).encode())
)
def test_no_body_crashes_the_parser(body: bytes) -> None:
    try:
        events = parse_body(body)
    except InvalidInput as exc:
        assert str(exc)
    else:
        assert 1 <= len(events) <= 25
