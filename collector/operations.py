"""Privacy operations, one table of them: the admin API and the CLI run the same code.

Each operation takes JSON-able parameters and returns a JSON-able result; the retention
functions it calls write the audit rows. The CLI runs an operation over its own store, or, when
`serve` holds the embedded store, posts it to `/admin/op/<name>`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ashiato.beacon.consent import parse_purposes
from ashiato.beacon.pipeline import visitor_pseudonym
from ashiato.beacon.tokens import recipient_pseudonym
from ashiato.collector.auth import TokenStore
from ashiato.collector.config import Config
from ashiato.collector.metrics import rows_affected
from ashiato.collector.secrets import (
    LiveSecrets,
    Secrets,
    retire_visitor_key,
    rotate_token_key,
)
from ashiato.retention import rights
from ashiato.retention.errors import RetentionError
from ashiato.retention.jobs import anonymize, expire, link
from ashiato.retention.link import identify, unlink
from ashiato.retention.members import register_member
from ashiato.retention.optouts import check_recipients
from ashiato.retention.policy import RetentionPolicy
from ashiato.retention.provisions import third_parties
from ashiato.retention.suppress import EVERY_PURPOSE, check_purpose, suppressed_events
from ashiato.storage import audit, reports
from ashiato.storage.backend import Backend
from ashiato.storage.errors import QueryRejected, StorageError

JOBS = ("expire", "anonymize", "link")


class OperationError(ValueError):
    """An operation's parameters are wrong; the message says which."""


@dataclass(frozen=True, slots=True)
class Context:
    """What operations need besides storage: keys and the retention policy."""

    secrets: Secrets | LiveSecrets
    policy: RetentionPolicy
    actor: str
    tokens: TokenStore | None = None
    # Where keys.json lives, for the key operations (None where keys cannot be changed).
    data_dir: Path | None = None


def retention_policy(config: Config) -> RetentionPolicy:
    """The retention policy from the configuration."""
    return RetentionPolicy(
        {**config.retention.days, "full_ip": config.consent.security_window_days}
    )


def plain(value: Any) -> Any:
    """Dataclasses, tuples and dates as JSON-able values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _text(params: Mapping[str, Any], name: str, required: bool = True) -> str:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise OperationError(f"{name!r} is required")
        return ""
    if not isinstance(value, str):
        raise OperationError(f"{name!r} must be a string")
    return value


def subject(params: Mapping[str, Any], ctx: Context) -> dict[str, str | None]:
    """The subject an operation is about, as stored identifiers.

    A visitor is named by its pseudonymous id, or by its cookie value (hashed here); an e-mail
    recipient by address (hashed here) or by pseudonym.
    """
    visitor = _text(params, "visitor", False) or None
    cookie = _text(params, "visitor_cookie", False)
    if cookie:
        visitor = visitor_pseudonym(cookie, ctx.secrets.visitor_key)
    recipient = _text(params, "recipient", False) or None
    address = _text(params, "recipient_address", False)
    if address:
        recipient = recipient_pseudonym(address, ctx.secrets.recipient_key)
    member = _text(params, "member", False) or None
    if not (member or visitor or recipient):
        raise OperationError("name a member, a visitor or a recipient")
    return {"member": member, "visitor": visitor, "recipient": recipient}


def _now(params: Mapping[str, Any]) -> datetime:
    text = _text(params, "now", False)
    if not text:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(text)
    except ValueError:
        raise OperationError(f"'now' must be an ISO time, got {text!r}") from None
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def run_retention(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Run one retention job, or all in order (expire, anonymize, link)."""
    job = _text(params, "job", False) or "all"
    if job not in (*JOBS, "all"):
        raise OperationError(f"'job' must be one of {', '.join(JOBS)} or all, got {job!r}")
    dry_run = bool(params.get("dry_run", False))
    now = _now(params)
    results: dict[str, Any] = {}
    for name in JOBS if job == "all" else (job,):
        started = time.monotonic()
        if name == "expire":
            result: Any = expire(backend, ctx.policy, now, dry_run)
        elif name == "anonymize":
            result = anonymize(backend, ctx.policy, now, dry_run)
        else:
            result = link(backend, now, dry_run)
        out = plain(result)
        out["seconds"] = round(time.monotonic() - started, 3)
        results[name] = out
        if not dry_run:
            # One row per successful run, even when there was nothing to do, so monitoring can
            # tell a job that ran from one that did not (see ashiato_retention_last_success…).
            audit.record(
                backend,
                audit.AuditEntry(ctx.actor, f"retention:{name}", rows=rows_affected(name, out)),
            )
    return results


def op_export(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Everything held about a subject, as records with a summary."""
    who = subject(params, ctx)
    return rights.export(
        backend,
        member=who["member"],
        visitor=who["visitor"],
        recipient=who["recipient"],
        actor=ctx.actor,
        reason=_text(params, "reason"),
        policy=ctx.policy,
    )


def op_erase(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Delete a subject's data, wait for it to be gone from disk, and suppress the subject."""
    who = subject(params, ctx)
    result = rights.erase(
        backend,
        member=who["member"],
        visitor=who["visitor"],
        recipient=who["recipient"],
        actor=ctx.actor,
        reason=_text(params, "reason"),
        timeout=float(params.get("timeout", 120.0)),
    )
    return {**plain(result), "physical": result.physical}


def _suppression(on: bool) -> Callable[[Backend, Mapping[str, Any], Context], Any]:
    def run(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
        """Suppress or lift a subject, for one purpose or (without 'purpose') every one."""
        who = subject(params, ctx)
        reason = _text(params, "reason")
        purpose = _text(params, "purpose", False) or EVERY_PURPOSE
        try:
            check_purpose(purpose)
        except ValueError as exc:
            raise OperationError(str(exc)) from None
        done = []
        for kind, value in who.items():
            if value:
                (rights.suppress if on else rights.unsuppress)(
                    backend, kind, value, ctx.actor, reason, purpose=purpose
                )
                done.append(
                    {"subject_type": kind, "subject": value, "purpose": purpose, "suppressed": on}
                )
        return done

    return run


def op_optouts(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Which of a mailer's addresses may still get marketing e-mail (hashed here, never kept)."""
    addresses = params.get("recipients")
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise OperationError("'recipients' must be a list of e-mail addresses")
    result = check_recipients(
        backend,
        addresses,
        ctx.secrets.recipient_key,
        actor=ctx.actor,
        reason=_text(params, "reason", False),
    )
    return {"mailable": list(result.mailable), "opted_out": list(result.opted_out)}


def op_provision(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Record data provided to a third party (per member, or aggregate)."""
    categories = params.get("categories") or []
    members = params.get("members") or []
    if not isinstance(categories, list) or not categories:
        raise OperationError("'categories' must be a non-empty list")
    if not isinstance(members, list):
        raise OperationError("'members' must be a list")
    rows = rights.record_provision(
        backend,
        recipient=_text(params, "recipient"),
        purpose=_text(params, "purpose"),
        categories=[str(c) for c in categories],
        member_ids=[str(m) for m in members],
        aggregate=bool(params.get("aggregate", False)),
        actor=ctx.actor,
        note=_text(params, "note", False),
    )
    return {"rows": rows}


def op_third_parties(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """The recipients in the provision ledger, for the privacy notice (names no person)."""
    return {"recipients": plain(third_parties(backend))}


def op_audit(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """The audit trail between two times, optionally of one subject, with ISO-8601 times."""
    since = _now({"now": params["since"]}) if params.get("since") else None
    until = _now({"now": params["until"]}) if params.get("until") else None
    named = ("member", "visitor", "visitor_cookie", "recipient", "recipient_address")
    subjects: list[tuple[str, str]] = []
    if any(params.get(k) for k in named):
        who = subject(params, ctx)
        subjects = [(kind, value) for kind, value in who.items() if value]
    rows = rights.audit_entries(backend, since, until, subjects)
    for row in rows:
        row["time"] = datetime.fromtimestamp(int(row["ts_ms"]) / 1000, UTC).isoformat(
            timespec="milliseconds"
        )
    return rows


def op_identify(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Link a browser (its cookie) to a registered member who allows marketing."""
    who = subject(params, ctx)
    if not who["member"] or not who["visitor"]:
        raise OperationError("'member' and 'visitor_cookie' (or 'visitor') are required")
    return plain(identify(backend, who["member"], who["visitor"], ctx.actor))


def op_unlink(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Undo a wrong link (a correction)."""
    who = subject(params, ctx)
    if not who["member"] or not who["visitor"]:
        raise OperationError("'member' and 'visitor_cookie' (or 'visitor') are required")
    return plain(
        unlink(
            backend,
            who["member"],
            who["visitor"],
            ctx.actor,
            _text(params, "reason", False) or "correction",
        )
    )


def op_member(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Record a member's registration and consent, as the site's backend reports them."""
    member = _text(params, "member")
    purposes = params.get("purposes", "")
    if isinstance(purposes, list):
        purposes = ",".join(str(p) for p in purposes)
    if not isinstance(purposes, str):
        raise OperationError("'purposes' must be a list or a comma-separated string")
    granted = parse_purposes(purposes)
    register_member(backend, member, bool(params.get("registered", True)), granted)
    return {
        "member": member,
        "registered": bool(params.get("registered", True)),
        "purposes": list(granted),
    }


def op_report(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Event counts per group, each event once, small groups merged."""
    today = datetime.now(UTC).date()
    try:
        since = date.fromisoformat(
            _text(params, "since", False) or (today - timedelta(days=30)).isoformat()
        )
        until = date.fromisoformat(_text(params, "until", False) or today.isoformat())
    except ValueError as exc:
        raise OperationError(f"'since' and 'until' are days like 2026-11-01: {exc}") from None
    by = params.get("by") or ["day", "site", "kind"]
    if isinstance(by, str):
        by = [b.strip() for b in by.split(",") if b.strip()]
    if not isinstance(by, list):
        raise OperationError("'by' must be a list of dimensions, or one comma-separated string")
    try:
        result = reports.traffic(
            backend,
            since=since,
            until=until,
            exclude=suppressed_events("statistics"),
            by=[str(b) for b in by],
            min_group=int(params.get("min_group", 5)),
            include_automated=bool(params.get("include_automated", False)),
        )
    except QueryRejected as exc:
        raise OperationError(str(exc)) from None
    return {
        "columns": list(result.columns),
        "rows": [list(r) for r in result.rows],
        "hidden": result.hidden,
    }


def _token_store(ctx: Context) -> TokenStore:
    if ctx.tokens is None:
        raise OperationError("admin tokens are not available here")
    return ctx.tokens


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def op_tokens(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Every admin token, without its secret: id, label, scopes, created and last used."""
    tokens = _token_store(ctx)
    used = tokens.last_used()
    listed = [
        {
            "id": r.id,
            "label": r.label,
            "scopes": list(r.scopes),
            "created": _iso(r.created),
            "last_used": _iso(used.get(r.id)),
        }
        for r in tokens.load()
    ]
    audit.record(backend, audit.AuditEntry(ctx.actor, "admin-token:list", rows=len(listed)))
    return listed


def op_create_token(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Create a token; the answer carries its secret, shown this once."""
    scopes = params.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise OperationError("'scopes' must be a list of scope names")
    plaintext, record = _token_store(ctx).create(tuple(scopes), _text(params, "label", False))
    audit.record(
        backend,
        audit.AuditEntry(
            ctx.actor, "admin-token:create", detail=f"{record.id} {','.join(record.scopes)}"
        ),
    )
    return {"id": record.id, "scopes": list(record.scopes), "token": plaintext}


def op_revoke_token(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Revoke a token by id; every server refuses it from its next request on."""
    record = _token_store(ctx).revoke(_text(params, "id"))
    audit.record(
        backend,
        audit.AuditEntry(
            ctx.actor,
            "admin-token:revoke",
            reason=_text(params, "reason", False),
            detail=f"{record.id} {record.label}",
        ),
    )
    return {"id": record.id, "label": record.label}


def _keys_dir(ctx: Context) -> Path:
    if ctx.data_dir is None:
        raise OperationError("keys cannot be changed here")
    return ctx.data_dir


def op_rotate_token_key(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Sign new e-mail tokens with a new key; tokens already sent keep verifying."""
    key_id = rotate_token_key(_keys_dir(ctx))
    audit.record(
        backend,
        audit.AuditEntry(
            ctx.actor, "keys:rotate-tokens", reason=_text(params, "reason", False), detail=key_id
        ),
    )
    return {"key_id": key_id}


def op_retire_visitor_key(backend: Backend, params: Mapping[str, Any], ctx: Context) -> Any:
    """Replace the visitor pseudonym key: stored visitor ids can never be linked again."""
    if params.get("confirm") is not True:
        raise OperationError("retiring the visitor key cannot be undone: pass confirm=true")
    retire_visitor_key(_keys_dir(ctx))
    audit.record(
        backend,
        audit.AuditEntry(
            ctx.actor, "keys:retire-visitor-key", reason=_text(params, "reason", False)
        ),
    )
    return {"retired": True}


@dataclass(frozen=True, slots=True)
class Operation:
    """One privacy operation: the scope it needs and what runs it.

    `sees_acknowledged_hits`: the operation decides on events, so a server runs it only once
    every hit it has acknowledged is stored (see `collector.admin.store_acknowledged_hits`).
    """

    scope: str
    run: Callable[[Backend, Mapping[str, Any], Context], Any]
    rerun: str = ""  # what to tell a caller whose request storage cut short
    sees_acknowledged_hits: bool = False

    def storage_failure(self, exc: StorageError) -> str:
        """The message for a request storage failed part-way, with what to do about it."""
        return f"{exc}; {self.rerun}" if self.rerun else str(exc)


# Every step of an erasure is idempotent and what it deletes last (the identity links) is what
# finds the rest, so a request cut short is finished by the same request sent again.
_ERASE_RERUN = "nothing done so far is lost: send the same erasure again to finish it"


OPERATIONS: dict[str, Operation] = {
    "retention": Operation("admin", run_retention),
    "export": Operation("export", op_export),
    "erase": Operation("erase", op_erase, _ERASE_RERUN),
    "suppress": Operation("erase", _suppression(True)),
    "unsuppress": Operation("erase", _suppression(False)),
    "provision": Operation("admin", op_provision),
    "third_parties": Operation("read", op_third_parties),
    "audit": Operation("read", op_audit),
    "identify": Operation("admin", op_identify, sees_acknowledged_hits=True),
    "unlink": Operation("admin", op_unlink),
    "member": Operation("admin", op_member),
    "report": Operation("read", op_report),
    "tokens": Operation("admin", op_tokens),
    "create_token": Operation("admin", op_create_token),
    "revoke_token": Operation("admin", op_revoke_token),
    "rotate_token_key": Operation("admin", op_rotate_token_key),
    "retire_visitor_key": Operation("admin", op_retire_visitor_key),
    "optouts": Operation("optouts", op_optouts),
}


def run_audited(backend: Backend, name: str, params: Mapping[str, Any], ctx: Context) -> Any:
    """Run operation `name`; a refusal (bad parameters, a conflict) is audited, then raised.

    Successful operations write their own audit rows; this adds the requests that were turned
    down, so the trail shows every attempt on personal data, not only those that went through.
    """
    try:
        return OPERATIONS[name].run(backend, params, ctx)
    except (ValueError, RetentionError) as exc:
        reason = params.get("reason")
        audit.record(
            backend,
            audit.AuditEntry(
                ctx.actor,
                f"refused:{name}",
                reason=reason if isinstance(reason, str) else "",
                detail=str(exc),
            ),
        )
        raise


# Operations after which a running server reads keys.json again.
KEY_OPERATIONS = frozenset({"rotate_token_key", "retire_visitor_key"})

# Where each operation is reached in the admin API.
PATHS: dict[str, str] = {
    "retention": "/admin/retention/run",
    "export": "/admin/subject/export",
    "erase": "/admin/subject/erase",
    "suppress": "/admin/subject/suppress",
    "unsuppress": "/admin/subject/unsuppress",
    "provision": "/admin/provisions",
    "third_parties": "/admin/provisions/recipients",
    "audit": "/admin/audit",
    "identify": "/admin/identify",
    "unlink": "/admin/unlink",
    "member": "/admin/members",
    "report": "/admin/report",
    "tokens": "/admin/tokens",
    "create_token": "/admin/tokens/create",
    "revoke_token": "/admin/tokens/revoke",
    "rotate_token_key": "/admin/keys/rotate-tokens",
    "retire_visitor_key": "/admin/keys/retire-visitor-key",
    "optouts": "/admin/optouts/filter",
}
