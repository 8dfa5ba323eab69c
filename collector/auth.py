"""Admin API tokens: stored hashed in the data directory, each with scopes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

# `sql` is apart from `read`: a query may read any column of any of ashiato's tables.
SCOPES = ("read", "sql", "export", "erase", "optouts", "admin")
TOKENS_FILE = "admin_tokens.json"
# When each token was last used, apart from the tokens themselves: servers update it while a
# revoke rewrites the tokens file, and a lost timestamp must never bring a revoked token back.
USED_FILE = "admin_tokens.used.json"
BOOTSTRAP_FILE = "admin.token"
# A token's last use is written at most this often (seconds), not on every request.
_TOUCH_EVERY = 60


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token: its public id, the hash of its secret, and what it may do."""

    id: str
    sha256: str
    scopes: tuple[str, ...]
    label: str
    created: int

    def allows(self, scope: str) -> bool:
        """True when the token holds `scope` or the all-powerful `admin`."""
        return scope in self.scopes or "admin" in self.scopes


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    """The hashed tokens file of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / TOKENS_FILE
        self.used_path = data_dir / USED_FILE
        self.bootstrap_path = data_dir / BOOTSTRAP_FILE
        self._touched: dict[str, float] = {}

    def load(self) -> list[TokenRecord]:
        """Every stored token (none when the file does not exist yet)."""
        if not self.path.exists():
            return []
        doc = json.loads(self.path.read_text())
        return [
            TokenRecord(t["id"], t["sha256"], tuple(t["scopes"]), t.get("label", ""), t["created"])
            for t in doc.get("tokens", [])
        ]

    def create(self, scopes: tuple[str, ...], label: str = "") -> tuple[str, TokenRecord]:
        """Create a token; return its plaintext (shown once) and its record."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ValueError(f"unknown scope {bad[0] if bad else '(none)'}; known: {SCOPES}")
        token_id = secrets.token_hex(4)
        plaintext = f"ash_{token_id}_{secrets.token_urlsafe(24)}"
        record = TokenRecord(token_id, _hash(plaintext), scopes, label, int(time.time()))
        records = [*self.load(), record]
        self._write(records)
        return plaintext, record

    def ensure_bootstrap(self) -> str | None:
        """On first start, create an admin token and keep it (0600) for local CLI use."""
        if self.load():
            return None
        plaintext, _ = self.create(("admin",), "bootstrap")
        self.bootstrap_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.bootstrap_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(plaintext + "\n")
        return plaintext

    def verify(self, plaintext: str) -> TokenRecord | None:
        """The record of a presented token, or None when it is not one of ours.

        The file is read on every call, so a token revoked by another process stops working
        at its next request.
        """
        digest = _hash(plaintext)
        for record in self.load():
            if hmac.compare_digest(record.sha256, digest):
                self._touch(record.id)
                return record
        return None

    def revoke(self, token_id: str) -> TokenRecord:
        """Remove a token; ValueError when no token has that id."""
        records = self.load()
        kept = [r for r in records if r.id != token_id]
        if len(kept) == len(records):
            raise ValueError(f"no admin token has the id {token_id!r} (see admin-token list)")
        self._write(kept)
        (revoked,) = [r for r in records if r.id == token_id]
        if revoked.label == "bootstrap":
            # The file only keeps a copy for local commands; a revoked secret must not linger.
            self.bootstrap_path.unlink(missing_ok=True)
        return revoked

    def last_used(self) -> dict[str, int]:
        """When each token was last used (Unix seconds), as far as it was recorded."""
        try:
            doc = json.loads(self.used_path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in doc.items() if isinstance(v, int | float)}

    def _touch(self, token_id: str) -> None:
        now = time.time()
        if now - self._touched.get(token_id, 0.0) < _TOUCH_EVERY:
            return
        self._touched[token_id] = now
        used = self.last_used()
        used[token_id] = int(now)
        tmp = self.used_path.with_suffix(f".{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(used, handle)
            os.replace(tmp, self.used_path)
        except OSError:
            # Only a convenience for `admin-token list`; never a reason to refuse a request.
            tmp.unlink(missing_ok=True)

    def _write(self, records: list[TokenRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "tokens": [
                {
                    "id": r.id,
                    "sha256": r.sha256,
                    "scopes": list(r.scopes),
                    "label": r.label,
                    "created": r.created,
                }
                for r in records
            ]
        }
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle, indent=1)
        os.replace(tmp, self.path)
