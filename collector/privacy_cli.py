"""CLI for privacy operations: retention, subject rights, provision records, the audit trail.

Each command runs the same operation as the admin API (collector.operations): over this
process's store, or through the running server when it holds the embedded store.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ashiato.collector.adminclient import CommandError, call_admin_api
from ashiato.collector.auth import TokenStore
from ashiato.collector.config import Config, store_for
from ashiato.collector.operations import (
    OPERATIONS,
    PATHS,
    Context,
    OperationError,
    plain,
    retention_policy,
    run_audited,
)
from ashiato.collector.progress import Progress
from ashiato.collector.secrets import load_secrets
from ashiato.retention.errors import RetentionError
from ashiato.retention.suppress import SUPPRESSIBLE
from ashiato.storage.backend import Store, connection
from ashiato.storage.errors import StorageError, StoreInUse
from ashiato.storage.reports import DIMENSIONS


def run_operation(
    config: Config, env: Mapping[str, str], name: str, params: Mapping[str, Any]
) -> Any:
    """Run an operation here, or through the server that holds the embedded store."""
    with Progress(_DOING.get(name, name)) as progress:
        try:
            store = store_for(config)
        except StoreInUse:
            progress.step(f"{_DOING.get(name, name)} (by the running server)")
            return call_admin_api(config, env, PATHS[name], params)
        return _run_here(config, name, params, store)


# What a long operation is doing, as the progress line says it.
_DOING = {
    "erase": "erasing (until the rows have left the disk)",
    "export": "exporting",
    "retention": "running retention jobs",
    "report": "counting",
    "third_parties": "reading the provision ledger",
}


def _run_here(config: Config, name: str, params: Mapping[str, Any], store: Store) -> Any:
    """Run an operation over this process's own store."""
    try:
        from ashiato.collector.app import prepare_storage

        prepare_storage(store)
        ctx = Context(
            load_secrets(config.data_dir),
            retention_policy(config),
            f"cli:{getpass.getuser()}",
            TokenStore(config.data_dir),
            config.data_dir,
        )
        with connection(store) as backend:
            return plain(run_audited(backend, name, params, ctx))
    except (OperationError, ValueError, RetentionError) as exc:
        raise CommandError(str(exc)) from None
    except StorageError as exc:
        raise CommandError(OPERATIONS[name].storage_failure(exc)) from None
    finally:
        store.close()


def add_subject_arguments(parser: argparse.ArgumentParser) -> None:
    """The ways to name a data subject."""
    who = parser.add_argument_group("subject (one or more)")
    who.add_argument("--member", help="member id, as the site's backend knows it")
    who.add_argument("--visitor", help="visitor id as stored (the pseudonym in events)")
    who.add_argument("--visitor-cookie", help="the browser's ashiato_vid cookie value")
    who.add_argument("--recipient", help="e-mail address of a recipient (hashed before use)")
    who.add_argument("--recipient-id", help="recipient pseudonym as stored")


def subject_params(args: argparse.Namespace) -> dict[str, Any]:
    """Operation parameters naming the subject given on the command line."""
    params = {
        "member": args.member,
        "visitor": args.visitor,
        "visitor_cookie": args.visitor_cookie,
        "recipient": args.recipient_id,
        "recipient_address": args.recipient,
    }
    if not any(params.values()):
        raise CommandError(
            "name the subject: --member, --visitor, --visitor-cookie, --recipient or --recipient-id"
        )
    return {k: v for k, v in params.items() if v}


def cmd_retention(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """`retention run`: run the jobs and say what they did."""
    params = {"job": args.job, "dry_run": args.dry_run, "now": args.now or ""}
    results = run_operation(config, env, "retention", params)
    prefix = "would have " if args.dry_run else ""
    for job, result in results.items():
        seconds = result.get("seconds", 0)
        if job == "expire":
            names = [p["table"] + ":" + p["partition"] for p in result["dropped"]]
            rows = sum(int(p["rows"]) for p in result["dropped"])
            print(
                f"expire: {prefix}dropped {len(names)} partition(s), {rows} rows "
                f"({seconds}s){': ' + ', '.join(names) if names else ''}"
            )
        elif job == "anonymize":
            print(
                f"anonymize: {prefix}anonymized {result['rows']} rows older than "
                f"{result['before_day']} ({seconds}s)"
            )
        else:
            print(
                f"link: checked {result['checked']} link(s), kept {result['kept']}, "
                f"{prefix}revoked {len(result['revoked'])} ({seconds}s)"
            )
    return 0


def _private_file(path: str) -> IO[str]:
    """A file for personal data: 0600 from the start, also when it existed before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")


def cmd_subject(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """`subject export|erase|suppress|unsuppress`."""
    params = subject_params(args)
    params["reason"] = args.reason
    if args.action == "export":
        records = run_operation(config, env, "export", params)
        out = _private_file(args.out) if args.out else sys.stdout
        try:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        finally:
            if args.out:
                out.close()
        summary = records[-1] if records else {}
        counts = summary.get("counts", summary)
        print(
            f"exported {len(records) - 1} records: {json.dumps(counts, default=str)}"
            + (f" to {Path(args.out)}" if args.out else ""),
            file=sys.stderr,
        )
        return 0
    if args.action == "erase":
        result = run_operation(config, env, "erase", params)
        deleted = ", ".join(f"{table}: {n}" for table, n in result["rows"].items())
        print(f"erased rows ({deleted}); rows remaining: {result['rows_remaining']}")
        print(
            f"physically removed from disk: {result['physical']}"
            + (
                ""
                if result["physical"] == "yes"
                else f" ({len(result.get('pending_parts', []))} old part(s) not yet removed by "
                "ClickHouse; they go within old_parts_lifetime)"
            )
        )
        print("the subject is suppressed: nothing new will be linked to it")
        return 0
    if args.purpose:
        params["purpose"] = args.purpose
    done = run_operation(config, env, args.action, params)
    for item in done:
        state = "suppressed" if item["suppressed"] else "no longer suppressed"
        scope = f"for {item['purpose']}" if item.get("purpose") else "for every purpose"
        print(f"{item['subject_type']} {item['subject']}: {state} {scope}")
    return 0


def read_addresses(source: IO[str]) -> list[str]:
    """E-mail addresses, one a line; blank lines are skipped."""
    return [line.strip() for line in source if line.strip()]


def cmd_optouts(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """`optouts filter`: print the addresses that may still get marketing e-mail."""
    if args.file in (None, "-"):
        addresses = read_addresses(sys.stdin)
    else:
        try:
            with open(args.file, encoding="utf-8") as source:
                addresses = read_addresses(source)
        except OSError as exc:
            raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    params = {"recipients": addresses, "reason": args.reason or ""}
    result = run_operation(config, env, "optouts", params)
    shown = result["opted_out"] if args.opted_out else result["mailable"]
    for address in shown:
        print(address)
    print(
        f"checked {len(addresses)} address(es): {len(result['mailable'])} mailable, "
        f"{len(result['opted_out'])} opted out",
        file=sys.stderr,
    )
    return 0


def cmd_provision(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """`provision record`: add to the ledger of data provided to third parties."""
    if bool(args.member) == bool(args.aggregate):
        raise CommandError("give --member (one or more) or --aggregate, not both")
    params = {
        "recipient": args.recipient,
        "purpose": args.purpose,
        "categories": [c.strip() for c in args.categories.split(",") if c.strip()],
        "members": args.member or [],
        "aggregate": args.aggregate,
        "note": args.note or "",
    }
    result = run_operation(config, env, "provision", params)
    print(f"recorded {result['rows']} provision row(s) to {args.recipient}")
    return 0


def cmd_audit(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """`audit`: list the audit trail."""
    params = {"since": args.since or "", "until": args.until or ""}
    if any(
        getattr(args, k)
        for k in ("member", "visitor", "visitor_cookie", "recipient", "recipient_id")
    ):
        params.update(subject_params(args))
    rows = run_operation(config, env, "audit", params)
    columns = ("time", "actor", "action", "subject_type", "subject", "reason", "rows", "detail")
    print("\t".join(columns))
    for row in rows:
        print("\t".join(str(row.get(c, "")).replace("\t", " ").replace("\n", " ") for c in columns))
    return 0


def cmd_report(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """`report`: event counts per group; small groups merged so nobody is singled out."""
    params = {
        "since": args.since or "",
        "until": args.until or "",
        "by": [b.strip() for b in args.by.split(",") if b.strip()],
        "min_group": args.min_group,
        "include_automated": args.include_automated,
    }
    result = run_operation(config, env, "report", params)
    if args.format == "json":
        for row in result["rows"]:
            print(json.dumps(dict(zip(result["columns"], row, strict=True)), default=str))
    else:
        print("\t".join(result["columns"]))
        for row in result["rows"]:
            print("\t".join("-" if v is None else str(v) for v in row))
    if result["hidden"]:
        print(
            f"{result['hidden']} events in groups under {args.min_group} are shown as (other)",
            file=sys.stderr,
        )
    return 0


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `retention`, `subject`, `optouts`, `provision`, `report` and `audit`."""
    retention = sub.add_parser("retention", help="retention jobs")
    retention_sub = retention.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = retention_sub.add_parser("run", parents=[common], help="run the retention jobs")
    run.add_argument("--job", choices=("expire", "anonymize", "link", "all"), default="all")
    run.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
    run.add_argument("--now", metavar="ISO-TIME", help="act as if it were this time (UTC)")

    subject = sub.add_parser("subject", help="individual rights: export, erase, suppress")
    subject_sub = subject.add_subparsers(dest="action", required=True, metavar="ACTION")
    texts = {
        "export": "everything held about a subject, as JSON lines",
        "erase": "delete a subject's data and suppress it",
        "suppress": "stop all further processing of a subject's data",
        "unsuppress": "lift a suppression",
    }
    for action, text in texts.items():
        parser = subject_sub.add_parser(action, parents=[common], help=text)
        add_subject_arguments(parser)
        parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        if action == "export":
            parser.add_argument("--out", metavar="FILE", help="write to FILE, not stdout")
        if action in ("suppress", "unsuppress"):
            parser.add_argument(
                "--purpose",
                choices=SUPPRESSIBLE,
                help="only this purpose (default: every purpose); "
                "`unsuppress --recipient ADDRESS --purpose marketing` opts a recipient in again",
            )

    optouts = sub.add_parser("optouts", help="marketing e-mail opt-outs, for the mailer")
    optouts_sub = optouts.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = optouts_sub.add_parser(
        "filter",
        parents=[common],
        help="print the addresses that may still get marketing e-mail",
        description="Reads e-mail addresses, one a line, and prints those not opted out of "
        "marketing e-mail (nor erased or suppressed). Addresses are hashed in memory only.",
    )
    check.add_argument("file", nargs="?", metavar="FILE", help="addresses (default: stdin)")
    check.add_argument(
        "--opted-out", action="store_true", help="print the opted-out addresses instead"
    )
    check.add_argument("--reason", help="why (kept in the audit trail)")

    provision = sub.add_parser("provision", help="the ledger of provision to third parties")
    provision_sub = provision.add_subparsers(dest="action", required=True, metavar="ACTION")
    record = provision_sub.add_parser("record", parents=[common], help="record a provision")
    record.add_argument("--recipient", required=True, help="the third party")
    record.add_argument("--purpose", required=True, help="what they use it for")
    record.add_argument("--categories", required=True, help="comma-separated data categories")
    record.add_argument("--member", action="append", help="a member whose data was provided")
    record.add_argument("--aggregate", action="store_true", help="only aggregate statistics")
    record.add_argument("--note", help="free text")

    report = sub.add_parser("report", parents=[common], help="event counts, each event once")
    report.add_argument("--since", metavar="DAY", help="first day (default: 30 days ago)")
    report.add_argument("--until", metavar="DAY", help="last day (default: today)")
    report.add_argument(
        "--by",
        default="day,site,kind",
        help=f"comma-separated dimensions ({', '.join(DIMENSIONS)})",
    )
    report.add_argument(
        "--min-group",
        type=int,
        default=5,
        help="smallest group shown; smaller ones are merged (default 5)",
    )
    report.add_argument(
        "--include-automated",
        action="store_true",
        help="count bots too (by kind, mail proxies and link scanners are always on rows of "
        "their own; without kind they are left out unless this is given)",
    )
    report.add_argument("--format", choices=("tsv", "json"), default="tsv")

    audit = sub.add_parser("audit", parents=[common], help="list the audit trail")
    audit.add_argument("--since", metavar="ISO-TIME", help="only entries from this time on")
    audit.add_argument("--until", metavar="ISO-TIME", help="only entries before this time")
    add_subject_arguments(audit)


def dispatch(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """Run the privacy command `args` names."""
    handlers = {
        "retention": cmd_retention,
        "subject": cmd_subject,
        "provision": cmd_provision,
        "audit": cmd_audit,
        "report": cmd_report,
        "optouts": cmd_optouts,
    }
    return handlers[args.command](args, config, env)
