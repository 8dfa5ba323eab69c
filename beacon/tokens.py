"""Signed tokens for e-mail open pixels and click redirects.

A token is ``<key id>.<payload>.<mac>``: the payload is base64url (no padding) of a compact
JSON array (version 2: ``[2, kind, campaign, recipient, expires, issued, url?]``; version 1,
still verified, has no ``issued``) and the MAC is HMAC-SHA256 over ``<key id>.<payload>``,
truncated to 128 bits and base64url-encoded. Every character is in ``[A-Za-z0-9_.-]``, so a
token fits in one URL path segment without escaping.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ashiato.beacon.errors import InvalidToken
from ashiato.beacon.text import dirt

KINDS = frozenset({"open", "click", "optout"})
MAX_TOKEN_LENGTH = 4096
MAX_URL_LENGTH = 2048
MIN_KEY_BYTES = 16

# RFC 4868 truncation: 128 bits keeps tokens short and is still far beyond brute force.
_MAC_BYTES = 16
_MAC_CHARS = 22  # base64url length of 16 bytes without padding
_PAYLOAD_VERSION = 2
# Version 1 bodies lack the issue time; links already sent in such e-mails must keep working.
_OLD_PAYLOAD_VERSION = 1

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_HTTP_PREFIX = re.compile(r"https?://", re.IGNORECASE)
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_AUTHORITY = re.compile(
    rf"(?P<host>{_LABEL}(?:\.{_LABEL})*\.?|\[(?P<ipv6>[0-9A-Fa-f:.]{{2,45}})\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The HMAC secrets tokens are signed with: sign with `current`, verify with any id.

    Keeping retired ids in `keys` lets links in already-sent e-mails keep working while a
    key is rotated out.
    """

    # repr=False so a logged ring never shows its secrets.
    keys: Mapping[str, bytes] = field(repr=False)
    current: str

    def __post_init__(self) -> None:
        for key_id, secret in self.keys.items():
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                raise ValueError(f"token key id {key_id!r} must match [A-Za-z0-9_-]{{1,16}}")
            if not isinstance(secret, bytes) or len(secret) < MIN_KEY_BYTES:
                raise ValueError(
                    f"token key {key_id!r} must be at least {MIN_KEY_BYTES} bytes of secret"
                )
        if self.current not in self.keys:
            raise ValueError(f"current token key id {self.current!r} is not in the key ring")
        # A private read-only copy: the caller's dict changing later must not change the ring.
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))


@dataclass(frozen=True, slots=True)
class EmailToken:
    """What an open or click token asserts: who, which campaign, when made, until when, where to.

    `issued` (Unix seconds, 0 for unknown) lets the collector tell a scanner that fetches a
    message's images and links the moment it is delivered from a person who reads it later.
    """

    kind: str
    campaign: str
    # A pseudonym from `recipient_pseudonym`, never an address: tokens end up in logs and URLs.
    recipient: str
    expires: int
    url: str = ""
    key_id: str = ""
    issued: int = 0


def sign_token(token: EmailToken, ring: KeyRing) -> str:
    """Encode and sign `token` with the ring's current key; raises InvalidToken if unsignable."""
    problem = _check_token(token)
    if problem:
        raise InvalidToken(f"cannot sign token: {problem}")
    body = [
        _PAYLOAD_VERSION,
        token.kind,
        token.campaign,
        token.recipient,
        token.expires,
        token.issued,
    ]
    if token.kind == "click":
        body.append(token.url)
    try:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidToken("cannot sign token: text is not valid unicode") from exc
    signed = f"{ring.current}.{_b64encode(raw)}"
    value = f"{signed}.{_b64encode(_mac(ring.keys[ring.current], signed))}"
    if len(value) > MAX_TOKEN_LENGTH:
        raise InvalidToken(f"cannot sign token: longer than {MAX_TOKEN_LENGTH} characters")
    return value


def verify_token(value: str, ring: KeyRing, *, now: float, kind: str) -> EmailToken:
    """Check a token's signature, expiry and kind and return what it asserts.

    Raises InvalidToken whose message starts with the reason: malformed, unknown key,
    bad signature, expired, wrong kind or unsafe url.
    """
    if not isinstance(value, str) or len(value) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed token: not a string of at most 4096 characters")
    parts = value.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token: expected three dot-separated parts")
    key_id, payload, mac_text = parts
    if not _KEY_ID.fullmatch(key_id) or not _B64URL.fullmatch(payload):
        raise InvalidToken("malformed token: bad key id or payload encoding")
    mac = _b64decode(mac_text) if len(mac_text) == _MAC_CHARS else None
    if mac is None or _b64encode(mac) != mac_text:
        # Only the canonical encoding is accepted so one token has exactly one spelling.
        raise InvalidToken("malformed token: bad signature encoding")
    secret = ring.keys.get(key_id)
    if secret is None:
        raise InvalidToken(f"unknown key: {key_id!r}")
    # Authenticate before parsing: the JSON decoder never sees attacker-chosen bytes.
    if not hmac.compare_digest(mac, _mac(secret, f"{key_id}.{payload}")):
        raise InvalidToken("bad signature")
    token = _decode_payload(payload, key_id)
    if token is None:
        raise InvalidToken("malformed token: payload has the wrong shape")
    if token.kind != kind:
        raise InvalidToken(f"wrong kind: {token.kind!r} token used as {kind!r}")
    # Written as `not <` so a NaN clock counts as expired rather than as forever valid.
    if not now < token.expires:
        raise InvalidToken("expired token")
    if token.kind == "click" and not is_safe_redirect(token.url):
        # Defence in depth: the signer checks too, but a leaked key must not make an open redirect.
        raise InvalidToken("unsafe url in click token")
    return token


def is_safe_redirect(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL with a plain host, safe to redirect a browser to.

    Deliberately stricter than browsers: printable ASCII only, no backslashes, no userinfo,
    and the scheme must be followed by ``//`` and a host. Each of those is a place where
    browsers and URL parsers disagree about where a URL really goes.
    """
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_LENGTH:
        return False
    # Browsers strip tabs and newlines and read `\` as `/`; refusing them leaves one reading.
    if not url.isascii() or not url.isprintable() or " " in url or "\\" in url:
        return False
    prefix = _HTTP_PREFIX.match(url)
    if prefix is None:
        return False
    rest = url[prefix.end() :]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    match = _AUTHORITY.fullmatch(authority)
    if match is None or len(match["host"]) > 255:
        return False
    if match["ipv6"] is not None and not _is_ipv6(match["ipv6"]):
        return False
    port = match["port"]
    return port is None or 0 < int(port) <= 65535


def recipient_pseudonym(recipient: str, key: bytes) -> str:
    """A stable keyed pseudonym for an e-mail address, safe to put in tokens and storage.

    The address is stripped and lowercased first so ``Ann@Example.com `` and
    ``ann@example.com`` are one recipient. Keyed, unlike a bare hash, so nobody without the
    key can confirm a guessed address.
    """
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"pseudonym key must be at least {MIN_KEY_BYTES} bytes of secret")
    normalized = recipient.strip().lower().encode("utf-8", "surrogatepass")
    return hmac.new(key, normalized, hashlib.sha256).hexdigest()[:32]


def _check_token(token: EmailToken) -> str:
    """Say what is wrong with a token about to be signed, or "" if nothing is."""
    if token.kind not in KINDS:
        return f"kind must be one of {sorted(KINDS)}, not {token.kind!r}"
    if not isinstance(token.campaign, str) or not isinstance(token.recipient, str):
        return "campaign and recipient must be strings"
    if dirt(token.campaign):
        # Hits refuse such a campaign id; a token carrying one could never record its opt-out.
        return f"campaign holds {dirt(token.campaign)}"
    if "@" in token.recipient:
        return "recipient looks like an e-mail address; pass recipient_pseudonym() instead"
    if not _is_seconds(token.expires):
        return "expires must be an int of unix seconds"
    if not _is_seconds(token.issued) or token.issued < 0:
        return "issued must be an int of unix seconds (0: unknown)"
    if token.kind == "click" and not is_safe_redirect(token.url):
        return f"unsafe url {token.url[:100]!r}"
    if token.kind != "click" and token.url:
        return f"{token.kind} tokens carry no url"
    return ""


def _decode_payload(payload: str, key_id: str) -> EmailToken | None:
    """Parse an authenticated payload, or None if it is not a version-1 or -2 token body."""
    raw = _b64decode(payload)
    if raw is None:
        return None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, list) or not body:
        return None
    if body[0] == _OLD_PAYLOAD_VERSION and len(body) in (5, 6):
        # Issued before tokens carried their issue time: 0, unknown.
        body = [*body[:5], 0, *body[5:]]
    elif body[0] != _PAYLOAD_VERSION or len(body) not in (6, 7):
        return None
    kind, campaign, recipient, expires, issued, *rest = body[1:]
    url = rest[0] if rest else ""
    if (
        not isinstance(kind, str)
        or kind not in KINDS
        or not all(isinstance(text, str) for text in (campaign, recipient, url))
        or not all(_is_seconds(value) for value in (expires, issued))
        or (kind == "click") != bool(rest)
    ):
        return None
    return EmailToken(kind, campaign, recipient, expires, url, key_id, issued)


def _is_seconds(value: object) -> bool:
    """Whether a value is an int of Unix seconds (a bool, JSON's true included, is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _mac(secret: bytes, signed: str) -> bytes:
    return hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest()[:_MAC_BYTES]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
