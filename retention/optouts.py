"""Marketing e-mail opt-outs: a durable suppression per recipient, and the mailer's check.

An opt-out suppresses the recipient pseudonym for `marketing` (`retention.suppress`); it is not
an event. Events expire and erasure deletes them, but that an address asked for no more
marketing must be remembered as long as anyone could mail it: neither expiry nor erasure
touches suppression rows, which hold nothing but the pseudonym. Opting in again lifts the same
register (`unsuppress` with purpose `marketing`: `ashiato subject unsuppress --recipient
ADDRESS --purpose marketing`); lifting a suspension of every use does not.

The mailer asks `check_recipients` which of its addresses it may still mail. They are hashed in
memory with the key and normalisation the e-mail tokens use (`recipient_pseudonym`); neither an
address nor its pseudonym is stored or logged, and the audit row holds only counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ashiato.beacon.tokens import recipient_pseudonym
from ashiato.retention.suppress import Suppression, suppress, suppressions
from ashiato.storage.audit import AuditEntry, record
from ashiato.storage.backend import Backend

PURPOSE = "marketing"
ACTOR = "recipient"  # the person, through the signed link in their e-mail
REASON = "marketing e-mail opt-out"


@dataclass(frozen=True, slots=True)
class RecipientCheck:
    """A mailer's addresses split in two, each in the order given."""

    mailable: tuple[str, ...]
    opted_out: tuple[str, ...]


def opt_out(backend: Backend, recipient: str, *, now: datetime | None = None) -> Suppression:
    """Record that the recipient (a pseudonym) wants no more marketing e-mail."""
    return suppress(backend, "recipient", recipient, ACTOR, REASON, purpose=PURPOSE, now=now)


def check_recipients(
    backend: Backend, addresses: Sequence[str], key: bytes, *, actor: str, reason: str = ""
) -> RecipientCheck:
    """Split `addresses` into those that may still get marketing e-mail and the opted-out.

    A recipient suppressed for every purpose (an erased or suspended one) is not mailable
    either. Audited as `optouts:filter` with the numbers checked and held back.
    """
    blocked = suppressions(backend, "recipient").subjects("recipient", PURPOSE)
    mailable: list[str] = []
    opted_out: list[str] = []
    for address in addresses:
        (opted_out if recipient_pseudonym(address, key) in blocked else mailable).append(address)
    record(
        backend,
        AuditEntry(
            actor,
            "optouts:filter",
            "recipient",
            reason=reason,
            rows=len(addresses),
            detail=f"{len(addresses)} checked, {len(opted_out)} opted out",
        ),
    )
    return RecipientCheck(tuple(mailable), tuple(opted_out))
