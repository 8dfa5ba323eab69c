"""The `ashiato` command line: the same objects as the server, built by the same factories."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ashiato import __version__
from ashiato.beacon.errors import BeaconError, InvalidToken
from ashiato.beacon.tokens import EmailToken, recipient_pseudonym, sign_token
from ashiato.collector import logsafety, privacy_cli, spool_cli
from ashiato.collector.adminclient import CommandError, call_admin_api
from ashiato.collector.auth import SCOPES, TokenStore
from ashiato.collector.config import Config, ConfigError, load_config, store_for
from ashiato.collector.secrets import load_secrets, retire_visitor_key, rotate_token_key
from ashiato.collector.settings import SETTINGS
from ashiato.collector.sqlquery import run_query
from ashiato.storage.backend import QueryResult, connection
from ashiato.storage.errors import StorageError, StoreInUse


def _settings_parser() -> argparse.ArgumentParser:
    """Flags for every setting, shared by all subcommands."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (also ASHIATO_* variables or the config file)")
    group.add_argument("--config", metavar="FILE", help="TOML config file (ASHIATO_CONFIG)")
    for setting in SETTINGS:
        metavar = "LIST" if setting.kind == "list" else setting.name.upper()
        default = ",".join(setting.default) if setting.kind == "list" else setting.default
        group.add_argument(
            setting.flag,
            dest=f"setting_{setting.name}",
            metavar=metavar,
            default=None,
            help=f"{setting.help} [{setting.env}; default: {default}]",
        )
    return parent


def config_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    """The configuration for this invocation: flags over environment over file."""
    overrides = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    return load_config(overrides, env, getattr(args, "config", None))


# --- serve ------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, config: Config, argv: Sequence[str]) -> int:
    """Run the collector until interrupted: one process, or a supervisor of workers."""
    from ashiato.collector import serving

    if config.server.workers > 1 and not config.storage.clickhouse_url:
        raise CommandError(
            "--workers above 1 needs a ClickHouse server (clickhouse_url): the embedded "
            "store can be opened by one process only"
        )
    store = store_for(config)
    if config.server.workers > 1 and os.environ.get(serving.WORKER_ENV) is None:
        return serving.run_supervisor(config, store, argv)
    if os.environ.get(serving.WORKER_ENV) is not None:
        serving.run_worker(config, store)
        store.close()
        return 0
    return serving.run_single(config, store)


# --- migrate ----------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    """Create the database and apply pending migrations."""
    from ashiato.collector.app import prepare_storage

    store = store_for(config)
    try:
        prepare_storage(store)
        with connection(store) as backend:
            versions = backend.query("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        store.close()
    for version, name in versions.rows:
        print(f"{version:4d}  {name}")
    print(f"schema is current ({len(versions.rows)} migrations applied)")
    return 0


# --- sql --------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def print_result(result: QueryResult, fmt: str, out: Any = None) -> None:
    """Print rows as TSV with a header, or as JSON lines."""
    out = out or sys.stdout
    if fmt == "json":
        for row in result.dicts():
            out.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        return
    out.write("\t".join(result.columns) + "\n")
    for values in result.rows:
        out.write("\t".join(_cell(v) for v in values) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def cmd_sql(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """Run one read-only query against the configured store, audited as through the API."""
    try:
        store = store_for(config)
    except StoreInUse:
        body = call_admin_api(
            config, env, "/admin/sql", {"query": args.query, "reason": args.reason or ""}
        )
        result = QueryResult(tuple(body["columns"]), tuple(body["types"]), body["rows"])
    else:
        try:
            if store.kind == "embedded":
                # A fresh embedded store has no schema yet; creating it is what serve would do.
                from ashiato.collector.app import prepare_storage

                prepare_storage(store)
            with connection(store) as backend:
                result = run_query(
                    backend,
                    args.query,
                    config.storage.query_limits,
                    f"cli:{getpass.getuser()}",
                    args.reason or "",
                )
        finally:
            store.close()
    print_result(result, args.format)
    return 0


# --- admin-token ------------------------------------------------------------------------------


def cmd_admin_token(args: argparse.Namespace, config: Config) -> int:
    """Create an admin API token and print it once."""
    scopes = tuple(s.strip() for s in args.scope.split(",") if s.strip())
    try:
        plaintext, record = TokenStore(config.data_dir).create(scopes, args.label or "")
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(plaintext)
    print(
        f"token {record.id} with scopes {','.join(record.scopes)}; it is shown only this once",
        file=sys.stderr,
    )
    return 0


# --- ingest-log -------------------------------------------------------------------------------


def cmd_ingest_log(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """Read access-log files (or follow them) into the store and print a summary."""
    from ashiato.collector import ingest_cli

    paths = [Path(p) for p in args.files]
    for path in paths:
        if not args.follow:
            ingest_cli.open_lines(path).close()  # fail before any work on a bad path
    sink = ingest_cli.make_sink(config, env, args)
    try:
        if args.follow:
            print(f"following {len(paths)} file(s); Ctrl-C to stop", file=sys.stderr)
            ingest_cli.follow_files(sink, paths, config.data_dir / "follow")
            return 0
        counts = ingest_cli.ingest_files(sink, paths, progress=sys.stderr.isatty())
    finally:
        sink.close()
    print(ingest_cli.summary(counts))
    return 0


# --- token ----------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace, config: Config) -> int:
    """Print a ready-to-paste e-mail open pixel or click link for a template."""
    keys = load_secrets(config.data_dir)
    recipient = recipient_pseudonym(args.recipient, keys.recipient_key)
    expires = int(time.time()) + config.collection.token_days * 86400
    base = (args.base_url or config.server.base_url).rstrip("/")
    try:
        if args.action == "open":
            token = sign_token(EmailToken("open", args.campaign, recipient, expires), keys.tokens)
            print(f'<img src="{base}/o/{token}.gif" alt="" width="1" height="1">')
        elif args.action == "optout":
            token = sign_token(EmailToken("optout", args.campaign, recipient, expires), keys.tokens)
            print(f"{base}/u/{token}")
        else:
            # Non-ASCII in a pasted URL is percent-encoded; everything else is kept as given.
            url = urllib.parse.quote(args.url, safe="".join(map(chr, range(0x21, 0x7F))))
            token = sign_token(
                EmailToken("click", args.campaign, recipient, expires, url), keys.tokens
            )
            print(f"{base}/c/{token}")
    except InvalidToken as exc:
        raise CommandError(str(exc).replace("cannot sign token: ", "")) from None
    return 0


# --- keys -----------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace, config: Config) -> int:
    """Rotate the e-mail token key, or retire the visitor pseudonym key."""
    if args.action == "rotate-tokens":
        key_id = rotate_token_key(config.data_dir)
        print(f"new e-mail tokens are signed with key {key_id}; links already sent keep working")
    else:
        retire_visitor_key(config.data_dir)
        print(
            "the visitor key is replaced and the old one is gone: stored visitor ids can no "
            "longer be linked to any browser"
        )
    print(f"restart every collector, and copy {config.data_dir / 'keys.json'} to each of them")
    return 0


# --- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    common = _settings_parser()
    parser = argparse.ArgumentParser(
        prog="ashiato", description="Access-log and tracking telemetry collector."
    )
    parser.add_argument("--version", action="version", version=f"ashiato {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", parents=[common], help="run the collector")
    sub.add_parser("migrate", parents=[common], help="create or upgrade the schema")
    sql = sub.add_parser("sql", parents=[common], help="run a read-only query (audited)")
    sql.add_argument(
        "query",
        help="one SELECT, SHOW TABLES, DESCRIBE, EXISTS, SHOW CREATE TABLE or EXPLAIN statement "
        "over ashiato's own tables; no FORMAT, SETTINGS or INTO OUTFILE",
    )
    sql.add_argument("--format", choices=("tsv", "json"), default="tsv")
    sql.add_argument("--reason", help="why (kept in the audit trail)")
    token = sub.add_parser("admin-token", help="manage admin API tokens")
    token_sub = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", parents=[common], help="create a token")
    create.add_argument(
        "--scope", required=True, help=f"comma-separated scopes: {', '.join(SCOPES)}"
    )
    create.add_argument("--label", help="what the token is for")
    privacy_cli.add_parsers(sub, common)
    spool = sub.add_parser("spool", help="inspect the spool and re-drive dead letters")
    spool_sub = spool.add_subparsers(dest="action", required=True, metavar="ACTION")
    spool_sub.add_parser("status", parents=[common], help="rows waiting, per worker")
    spool_sub.add_parser("dead-letters", parents=[common], help="batches ClickHouse refused")
    spool_sub.add_parser("redrive", parents=[common], help="insert dead letters again")
    keys = sub.add_parser("keys", help="rotate or retire the keys in keys.json")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    keys_sub.add_parser(
        "rotate-tokens",
        parents=[common],
        help="sign new e-mail tokens with a new key (old ones still verify)",
    )
    keys_sub.add_parser(
        "retire-visitor-key",
        parents=[common],
        help="replace the visitor pseudonym key so old visitor ids are unlinkable",
    )
    ingest = sub.add_parser(
        "ingest-log", parents=[common], help="read web-server access logs into the store"
    )
    ingest.add_argument("files", nargs="+", metavar="FILE", help="log files, plain or .gz")
    ingest.add_argument(
        "--format",
        default="combined",
        help="combined, common, main, or an nginx log_format string (default: combined)",
    )
    ingest.add_argument("--site", help="site id for the lines (default: the request's host)")
    ingest.add_argument(
        "--follow",
        action="store_true",
        help="keep reading as the files grow, surviving rotation, like tail -F",
    )
    email = sub.add_parser("token", help="print e-mail open pixels and click links")
    email_sub = email.add_subparsers(dest="action", required=True, metavar="KIND")
    for kind, text in (
        ("open", "an open-tracking pixel"),
        ("click", "a tracked click link"),
        ("optout", "an unsubscribe link (also for List-Unsubscribe)"),
    ):
        kind_parser = email_sub.add_parser(kind, parents=[common], help=f"print {text}")
        kind_parser.add_argument("--campaign", required=True, help="campaign name")
        kind_parser.add_argument(
            "--recipient",
            required=True,
            help="recipient address or id (only its keyed hash goes into the token)",
        )
        kind_parser.add_argument("--base-url", help="public base URL (default: public_url)")
        if kind == "click":
            kind_parser.add_argument("--url", required=True, help="target URL (http or https)")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point of the `ashiato` command."""
    env = dict(os.environ) if env is None else env
    args = build_parser().parse_args(argv)
    handlers: dict[str, Callable[[], int]] = {}
    try:
        config = config_from_args(args, env)
        logsafety.configure(config.server.log_level)
        handlers = {
            "serve": lambda: cmd_serve(
                args, config, list(argv if argv is not None else sys.argv[1:])
            ),
            "migrate": lambda: cmd_migrate(args, config),
            "sql": lambda: cmd_sql(args, config, env),
            "admin-token": lambda: cmd_admin_token(args, config),
            "token": lambda: cmd_token(args, config),
            "keys": lambda: cmd_keys(args, config),
            "ingest-log": lambda: cmd_ingest_log(args, config, env),
            "spool": lambda: spool_cli.run(args, config, env),
            **{
                name: (lambda: privacy_cli.dispatch(args, config, env))
                for name in ("retention", "subject", "provision", "audit", "report")
            },
        }
        return handlers[args.command]()
    except (ConfigError, CommandError, StorageError, BeaconError) as exc:
        print(f"ashiato: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
