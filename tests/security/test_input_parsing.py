"""The pure pieces under the input hardening: strict JSON, the text rules, per-row encoding,
and the spooled writer taking records that are already encoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from ashiato.beacon import strictjson
from ashiato.beacon.columns import COLUMNS
from ashiato.beacon.errors import InvalidInput, InvalidToken
from ashiato.beacon.event import Event
from ashiato.beacon.pipeline import Hit, checked_hit
from ashiato.beacon.text import check_clean, clean
from ashiato.beacon.tokens import EmailToken, KeyRing, sign_token
from ashiato.storage._records import decode_record
from ashiato.storage.backend import Store, connection
from ashiato.storage.errors import UnstorableRow
from ashiato.storage.schema import EVENT_RECORD, EVENTS_TABLE, migrate
from ashiato.storage.spool import Spool
from ashiato.storage.writer import BatchWriter, encode_record
from tests.storage.test_writer import Recorder

# --- strict JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[" * 100_000, "too_deep"),
        (b"[" * 17 + b"]" * 17, "too_deep"),
        (b'{"a":' * 17 + b"1" + b"}" * 17, "too_deep"),
        (b"1e400", "number_overflow"),
        (b"[1, -1e309]", "number_overflow"),
        (b"1" * 5000, "number_overflow"),
        (b"-9223372036854775809", "number_overflow"),
        (b"18446744073709551616", "number_overflow"),
        (b'"\\ud800"', "lone_surrogate"),
        (b'{"\\udc80": 1}', "lone_surrogate"),
        (b"NaN", "bad_body"),
        (b"\xff", "bad_body"),
        (b"{", "bad_body"),
    ],
)
def test_strict_json_refuses_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        strictjson.loads(data)
    assert refused.value.reason == reason


def test_strict_json_keeps_what_is_fine() -> None:
    data = b'{"a":[1,-9223372036854775808,18446744073709551615,1.5e308,"\\ud83d\\ude00"]}'
    assert strictjson.loads(data) == {
        "a": [1, -(2**63), 2**64 - 1, 1.5e308, "\U0001f600"],
    }
    assert strictjson.loads(b"[" * 16 + b"]" * 16) is not None
    assert strictjson.loads(b'"\\udce9"', byte_escapes=True) == "\udce9"
    for escape in (b'"\\ud800"', b'"\\udc7f"', b'"\\udd00"'):
        with pytest.raises(InvalidInput):
            strictjson.loads(escape, byte_escapes=True)


# --- text rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("dirty", ["a\x00b", "a\ufffd", "\x1b[31m", "a\x85", "a\udce9", "a\x7f"])
def test_dirty_ids_and_urls_are_refused(dirty: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_clean(dirty, "site")
    assert refused.value.reason == "bad_text"
    assert "site holds" in str(refused.value)


def test_header_text_is_cleaned() -> None:
    assert clean("Caf\udce9 \x00Bot\t/1") == "Caf\ufffd  Bot /1"
    assert clean("日本語 UA") == "日本語 UA"


def test_a_checked_hit_keeps_clean_text_and_refuses_dirty_ids() -> None:
    hit = Hit(kind="pageview", ts_ms=1, source="pixel", peer="", site="a", user_agent="x\udcff")
    assert checked_hit(hit).user_agent == "x\ufffd"
    for field in ("site", "name", "campaign", "url", "referrer", "target_url"):
        with pytest.raises(InvalidInput):
            checked_hit(Hit(kind="event", ts_ms=1, source="pixel", peer="", **{field: "\x00"}))


def test_a_token_cannot_carry_a_dirty_campaign() -> None:
    ring = KeyRing({"k1": b"0123456789abcdef0123"}, "k1")
    with pytest.raises(InvalidToken, match="campaign holds"):
        sign_token(EmailToken("optout", "nov\x00", "r" * 32, 2_000_000_000), ring)


# --- encoding and the spooled writer ----------------------------------------------------------


def test_a_row_that_cannot_be_encoded_is_refused_on_its_own() -> None:
    good = Event(ts_ms=1_700_000_000_000, kind="pageview", site="s").to_row()
    with pytest.raises(UnstorableRow):
        encode_record({**good, "url": "https://a.example/\ud800"}, COLUMNS)
    with pytest.raises(UnstorableRow):
        encode_record({**good, "asn": 2**70}, COLUMNS)
    assert decode_record(encode_record(good, COLUMNS), EVENT_RECORD) == good


def test_the_writer_stores_records_encoded_before_they_joined(store: Store, tmp_path: Path) -> None:
    with connection(store) as backend:
        migrate(backend)
    rows = [
        Event(ts_ms=1_700_000_000_000 + i, kind="pageview", site="pre").to_row() for i in range(30)
    ]
    seen = Recorder()
    with Spool(tmp_path, columns=EVENT_RECORD) as spool:
        writer = BatchWriter(store, EVENTS_TABLE, spool, max_delay=0.05, observer=seen)
        writer.start()
        assert writer.submit_records([writer.encode(row) for row in rows])
        assert writer.flush(timeout=10)
        assert writer.stop(timeout=5) == 0
    with connection(store) as backend:
        assert backend.query("SELECT count() FROM events WHERE site = 'pre'").scalar() == 30
    assert seen.drops == []
