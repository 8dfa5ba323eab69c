"""Keys kept outside ClickHouse: the visitor pseudonym key and the e-mail token key ring.

They live in `DATA_DIR/keys.json` (mode 0600), created on first use. Whoever holds ClickHouse
without this file cannot turn a visitor id back into a cookie, nor forge an e-mail token.
Rotation adds a new key id and makes it current; old ids keep verifying until removed.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ashiato.beacon.tokens import KeyRing

KEYS_FILE = "keys.json"


@dataclass(frozen=True, slots=True)
class Secrets:
    """The process's keys."""

    visitor_key: bytes
    recipient_key: bytes
    tokens: KeyRing


class LiveSecrets:
    """The keys a running server uses, replaced whole when keys.json is reloaded.

    Handlers read `visitor_key`, `recipient_key` and `tokens` per request, so a reload (SIGHUP
    or `POST /admin/keys/reload`) takes effect at the next request, without a restart.
    """

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._current = load_secrets(data_dir)

    @property
    def visitor_key(self) -> bytes:
        """The visitor pseudonym key in force."""
        return self._current.visitor_key

    @property
    def recipient_key(self) -> bytes:
        """The recipient pseudonym key in force."""
        return self._current.recipient_key

    @property
    def tokens(self) -> KeyRing:
        """The e-mail token key ring in force."""
        return self._current.tokens

    def reload(self) -> Secrets:
        """Read keys.json again; ValueError (and the old keys kept) when it is damaged."""
        self._current = load_secrets(self._data_dir)
        return self._current


def _new_key() -> str:
    return secrets.token_hex(32)


def _write(path: Path, doc: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle, indent=1)
    os.replace(tmp, path)


def load_secrets(data_dir: Path) -> Secrets:
    """Read the keys file, creating it with fresh keys when it does not exist yet."""
    path = data_dir / KEYS_FILE
    if not path.exists():
        _write(
            path,
            {
                "visitor_key": _new_key(),
                "recipient_key": _new_key(),
                "token_keys": {"k1": _new_key()},
                "token_current": "k1",
            },
        )
    try:
        doc = json.loads(path.read_text())
        ring = KeyRing(
            {kid: bytes.fromhex(key) for kid, key in doc["token_keys"].items()},
            doc["token_current"],
        )
        return Secrets(bytes.fromhex(doc["visitor_key"]), bytes.fromhex(doc["recipient_key"]), ring)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is damaged: {exc}") from None


def rotate_token_key(data_dir: Path) -> str:
    """Add a new e-mail token key, make it current, and return its id."""
    load_secrets(data_dir)
    path = data_dir / KEYS_FILE
    doc = json.loads(path.read_text())
    number = 1 + max(int(k[1:]) for k in doc["token_keys"] if k[1:].isdigit())
    key_id = f"k{number}"
    doc["token_keys"][key_id] = _new_key()
    doc["token_current"] = key_id
    _write(path, doc)
    return key_id


def retire_visitor_key(data_dir: Path) -> None:
    """Replace the visitor pseudonym key, keeping no copy of the old one.

    Visitor ids stored so far can then no longer be matched to any cookie: a browser seen again
    gets a new, unrelated id. Running collectors pick the new key up when they reload keys.
    """
    load_secrets(data_dir)
    path = data_dir / KEYS_FILE
    doc = json.loads(path.read_text())
    doc["visitor_key"] = _new_key()
    _write(path, doc)
