"""Signed e-mail tokens: round trips, every way to forge one, and open-redirect guards."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ashiato.beacon.errors import InvalidToken
from ashiato.beacon.tokens import (
    MAX_TOKEN_LENGTH,
    EmailToken,
    KeyRing,
    is_safe_redirect,
    recipient_pseudonym,
    sign_token,
    verify_token,
)

OLD = b"old-secret-0123456789abcdef"
NEW = b"new-secret-0123456789abcdef"
RING = KeyRing({"k1": OLD}, current="k1")
NOW = 1_700_000_000.0
RECIPIENT = recipient_pseudonym("ann@example.com", b"pseudonym-key-0123456789")

OPEN = EmailToken("open", "spring-sale", RECIPIENT, int(NOW) + 3600)
CLICK = EmailToken(
    "click", "spring-sale", RECIPIENT, int(NOW) + 3600, url="https://shop.example/p?id=1#top"
)


def _parts(value: str) -> list[str]:
    return value.split(".")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _reason(value: str, ring: KeyRing = RING, kind: str = "open", now: float = NOW) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify_token(value, ring, now=now, kind=kind)
    return str(caught.value)


@pytest.mark.parametrize("token", [OPEN, CLICK], ids=["open", "click"])
def test_round_trip_returns_the_token_with_its_key_id(token: EmailToken) -> None:
    value = sign_token(token, RING)

    assert verify_token(value, RING, now=NOW, kind=token.kind) == dataclasses.replace(
        token, key_id="k1"
    )


def test_token_is_one_url_safe_path_segment_without_padding() -> None:
    value = sign_token(CLICK, RING)

    assert re.fullmatch(r"[A-Za-z0-9_.-]+", value)
    assert "=" not in value and "/" not in value
    assert len(value) < 200


def test_non_ascii_campaign_round_trips() -> None:
    token = dataclasses.replace(OPEN, campaign="夏のセール")

    assert verify_token(sign_token(token, RING), RING, now=NOW, kind="open").campaign == (
        "夏のセール"
    )


def test_tampered_payload_is_a_bad_signature() -> None:
    key_id, payload, mac = _parts(sign_token(OPEN, RING))
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body[4] += 10**6  # extend the expiry
    forged = f"{key_id}.{_b64(json.dumps(body).encode())}.{mac}"

    assert _reason(forged) == "bad signature"


def test_tampered_signature_is_rejected() -> None:
    key_id, payload, mac = _parts(sign_token(OPEN, RING))
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]

    assert _reason(f"{key_id}.{payload}.{flipped}") == "bad signature"


def test_non_canonical_signature_encoding_is_malformed() -> None:
    key_id, payload, mac = _parts(sign_token(OPEN, RING))
    # The last of 22 characters carries 2 spare bits; setting them keeps the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = alphabet[alphabet.index(mac[-1]) ^ 1]

    assert _reason(f"{key_id}.{payload}.{mac[:-1]}{spare}").startswith("malformed")


def test_token_signed_with_another_secret_is_a_bad_signature() -> None:
    other = KeyRing({"k1": b"someone-elses-secret-0123"}, current="k1")

    assert _reason(sign_token(OPEN, other)) == "bad signature"


def test_unknown_key_id_is_named() -> None:
    other = KeyRing({"k9": NEW}, current="k9")

    assert _reason(sign_token(OPEN, other)) == "unknown key: 'k9'"


def test_swapping_the_key_id_breaks_the_signature() -> None:
    ring = KeyRing({"k1": OLD, "k2": OLD}, current="k1")
    _, payload, mac = _parts(sign_token(OPEN, ring))

    assert _reason(f"k2.{payload}.{mac}", ring) == "bad signature"


def test_rotation_signs_with_current_and_still_verifies_old_tokens() -> None:
    old_value = sign_token(OPEN, RING)
    rotated = KeyRing({"k1": OLD, "k2": NEW}, current="k2")
    new_value = sign_token(OPEN, rotated)

    assert new_value.startswith("k2.")
    assert verify_token(old_value, rotated, now=NOW, kind="open").key_id == "k1"
    assert verify_token(new_value, rotated, now=NOW, kind="open").key_id == "k2"
    retired = KeyRing({"k2": NEW}, current="k2")
    assert _reason(old_value, retired) == "unknown key: 'k1'"


def test_expired_token_is_rejected_at_and_after_expiry() -> None:
    value = sign_token(OPEN, RING)

    assert verify_token(value, RING, now=OPEN.expires - 0.5, kind="open") == dataclasses.replace(
        OPEN, key_id="k1"
    )
    assert _reason(value, now=OPEN.expires) == "expired token"
    assert _reason(value, now=float("nan")) == "expired token"


def test_kind_mismatch_is_rejected() -> None:
    assert _reason(sign_token(OPEN, RING), kind="click").startswith("wrong kind")
    assert _reason(sign_token(CLICK, RING), kind="open").startswith("wrong kind")


def test_click_token_with_an_unsafe_url_is_rejected_even_when_validly_signed() -> None:
    # Forge what a leaked key or a buggy signer could produce, bypassing sign_token's check.
    signed = "k1." + _b64(
        json.dumps([1, "click", "c", RECIPIENT, int(NOW) + 60, "javascript:alert(1)"]).encode()
    )
    mac = _b64(hmac.new(OLD, signed.encode(), hashlib.sha256).digest()[:16])

    assert _reason(f"{signed}.{mac}", kind="click") == "unsafe url in click token"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "k1",
        "k1.abc",
        "k1.abc.def.ghi",
        "k 1.YWJj.AAAAAAAAAAAAAAAAAAAAAA",
        "k1.YW=Jj.AAAAAAAAAAAAAAAAAAAAAA",
        "k1.YWJj.short",
        "k1..AAAAAAAAAAAAAAAAAAAAAA",
        "x" * (MAX_TOKEN_LENGTH + 1),
    ],
)
def test_malformed_tokens_say_so(value: str) -> None:
    assert _reason(value).startswith("malformed")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (dataclasses.replace(OPEN, kind="view"), "kind must be one of"),
        (dataclasses.replace(OPEN, recipient="ann@example.com"), "looks like an e-mail"),
        (dataclasses.replace(OPEN, url="https://shop.example/"), "open tokens carry no url"),
        (dataclasses.replace(CLICK, url=""), "unsafe url"),
        (dataclasses.replace(CLICK, url="//evil.example"), "unsafe url"),
        (dataclasses.replace(OPEN, campaign="x" * 5000), "longer than"),
    ],
)
def test_sign_refuses_tokens_it_could_not_verify(token: EmailToken, reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        sign_token(token, RING)


@pytest.mark.parametrize(
    ("keys", "current"),
    [
        ({"k1": OLD}, "k2"),
        ({"k.1": OLD}, "k.1"),
        ({"x" * 17: OLD}, "x" * 17),
        ({"k1": b"short"}, "k1"),
    ],
)
def test_key_ring_rejects_bad_configuration(keys: dict[str, bytes], current: str) -> None:
    with pytest.raises(ValueError, match="key"):
        KeyRing(keys, current)


def test_key_ring_hides_secrets_and_copies_keys() -> None:
    keys = {"k1": OLD}
    ring = KeyRing(keys, "k1")
    keys["k1"] = NEW

    assert ring.keys["k1"] == OLD
    assert "secret" not in repr(ring)


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/",
        "http://shop.example",
        "HTTPS://Shop.Example/Path?q=1&r=%2F%2F#frag",
        "https://shop.example:8443/a/b",
        "https://203.0.113.5/x",
        "https://[2001:db8::1]:443/x",
        "https://sub_domain.shop.example./",
        "https://shop.example?next=//evil.example",
    ],
)
def test_safe_redirects(url: str) -> None:
    assert is_safe_redirect(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/local/path",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil",
        "\\/evil.example",
        "https:evil.example",
        "https:/evil.example",
        "https:\\\\evil.example",
        "https:///evil.example",
        "https://",
        "https://:443/",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "javascript://shop.example/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "ftp://shop.example/",
        " https://shop.example/",
        "https://shop.example/ ",
        "\thttps://shop.example/",
        "https://shop.example/\n",
        "ht\ttps://shop.example/",
        "java\nscript:alert(1)",
        "https://shop.example/a b",
        "https://shop\u3000.example/",
        "https://shop.example/\u202e",
        "https://shop.example\\@evil.example",
        "%2F%2Fevil.example",
        "https%3A//evil.example",
        "https%3A%2F%2Fevil.example",
        "https://%65vil.example/",
        "https://good.example@evil.example",
        "https://user:pass@evil.example/",
        "https://@evil.example",
        "https://evil.example:99999/",
        "https://evil.example:/",
        "https://evil.example:0/",
        "https://evil.example:http/",
        "https://[not-ipv6]/",
        "https://-evil.example/",
        "https://" + "a" * 2100 + ".example/",
    ],
)
def test_unsafe_redirects(url: str) -> None:
    assert not is_safe_redirect(url)


def test_pseudonym_is_keyed_normalized_and_short() -> None:
    key = b"pseudonym-key-0123456789"

    assert recipient_pseudonym(" Ann@Example.COM\n", key) == RECIPIENT
    assert re.fullmatch(r"[0-9a-f]{32}", RECIPIENT)
    assert recipient_pseudonym("ann@example.com", b"another-pseudonym-key-01") != RECIPIENT
    assert recipient_pseudonym("bob@example.com", key) != RECIPIENT
    with pytest.raises(ValueError, match="pseudonym key"):
        recipient_pseudonym("ann@example.com", b"")


@settings(database=None, max_examples=300)
@given(value=st.text(max_size=200), kind=st.sampled_from(["open", "click", "x"]))
def test_verify_only_ever_raises_invalid_token(value: str, kind: str) -> None:
    # Random text never carries a valid signature, so InvalidToken is the only outcome.
    with pytest.raises(InvalidToken):
        verify_token(value, RING, now=NOW, kind=kind)


@settings(database=None, max_examples=200)
@given(
    value=st.from_regex(r"k1\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{20,24}", fullmatch=True),
)
def test_verify_of_well_shaped_garbage_only_raises_invalid_token(value: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(value, RING, now=NOW, kind="open")


@settings(database=None, max_examples=300)
@given(url=st.text(max_size=100))
def test_is_safe_redirect_never_raises(url: str) -> None:
    assert is_safe_redirect(url) in (True, False)


# --- issue time -------------------------------------------------------------------------------


def _signed_body(body: list[object], secret: bytes = OLD) -> str:
    """A token over an arbitrary body, as an older or a buggy signer would have made it."""
    signed = "k1." + _b64(json.dumps(body).encode())
    return f"{signed}.{_b64(hmac.new(secret, signed.encode(), hashlib.sha256).digest()[:16])}"


@pytest.mark.parametrize("token", [OPEN, CLICK], ids=["open", "click"])
def test_the_issue_time_round_trips(token: EmailToken) -> None:
    issued = dataclasses.replace(token, issued=int(NOW) - 30)

    assert verify_token(sign_token(issued, RING), RING, now=NOW, kind=token.kind).issued == (
        int(NOW) - 30
    )


def test_tokens_made_before_they_carried_an_issue_time_still_verify() -> None:
    expires = int(NOW) + 60
    old_open = _signed_body([1, "open", "nov", RECIPIENT, expires])
    old_click = _signed_body([1, "click", "nov", RECIPIENT, expires, "https://shop.example/"])

    assert verify_token(old_open, RING, now=NOW, kind="open") == EmailToken(
        "open", "nov", RECIPIENT, expires, key_id="k1", issued=0
    )
    clicked = verify_token(old_click, RING, now=NOW, kind="click")
    assert (clicked.url, clicked.issued) == ("https://shop.example/", 0)


@pytest.mark.parametrize(
    "body",
    [
        [2, "open", "nov", RECIPIENT, int(NOW) + 60],  # version 2 without its issue time
        [2, "open", "nov", RECIPIENT, int(NOW) + 60, True],
        [2, "open", "nov", RECIPIENT, int(NOW) + 60, "1700000000"],
        [2, "click", "nov", RECIPIENT, int(NOW) + 60, 0],  # a click without its url
        [1, "open", "nov", RECIPIENT, int(NOW) + 60, 0, ""],
        [3, "open", "nov", RECIPIENT, int(NOW) + 60, 0],
    ],
)
def test_signed_bodies_of_the_wrong_shape_are_malformed(body: list[object]) -> None:
    assert _reason(_signed_body(body), kind=str(body[1])).startswith("malformed")


@pytest.mark.parametrize("issued", [-1, True, 1.5])
def test_sign_refuses_a_bad_issue_time(issued: object) -> None:
    with pytest.raises(InvalidToken, match="issued must be"):
        sign_token(dataclasses.replace(OPEN, issued=issued), RING)  # type: ignore[arg-type]
