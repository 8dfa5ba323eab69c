"""Members: registration and consent as reported by the site's backend, latest row wins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from ashiato.retention._clock import to_ms
from ashiato.storage.backend import Backend

MEMBER_COLUMNS = ("member_id", "ts_ms", "registered", "purposes", "source")


@dataclass(frozen=True, slots=True)
class MemberState:
    """A member's latest reported registration and consented purposes."""

    member_id: str
    registered: bool
    purposes: tuple[str, ...]

    @property
    def allows_linking(self) -> bool:
        """Registered and consenting to marketing: the policies' condition for linking."""
        return self.registered and "marketing" in self.purposes


def register_member(
    backend: Backend,
    member_id: str,
    registered: bool,
    purposes: Iterable[str],
    now: datetime | None = None,
    *,
    source: str = "api",
) -> None:
    """Record a member's registration state and consent (append-only)."""
    if not member_id:
        raise ValueError("member_id must not be empty")
    row = {
        "member_id": member_id,
        "ts_ms": to_ms(now or datetime.now(UTC)),
        "registered": int(registered),
        "purposes": sorted(set(purposes)),
        "source": source,
    }
    backend.insert("members", [row], MEMBER_COLUMNS)


def member_state(backend: Backend, member_id: str) -> MemberState | None:
    """The member's latest state, or None when the site never reported the member."""
    result = backend.query(
        "SELECT argMax(registered, ts_ms), argMax(purposes, ts_ms), count() FROM members"
        " WHERE member_id = %(m)s",
        {"m": member_id},
    )
    registered, purposes, rows = result.rows[0]
    if not rows:
        return None
    return MemberState(member_id, bool(registered), tuple(purposes))
