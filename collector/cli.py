"""The `ashiato` command line: the same objects as the server, built by the same factories."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from ashiato import __version__
from ashiato.beacon.errors import BeaconError, InvalidToken
from ashiato.beacon.tokens import EmailToken, recipient_pseudonym, sign_token
from ashiato.collector import logsafety, privacy_cli, spool_cli
from ashiato.collector.adminclient import SERVER_FILE, CommandError, call_admin_api
from ashiato.collector.auth import SCOPES
from ashiato.collector.config import Config, ConfigError, load_config, store_for
from ashiato.collector.notice_text import FORMATS, LANGUAGES
from ashiato.collector.roles import ROLES
from ashiato.collector.secrets import load_secrets
from ashiato.collector.settings import SETTINGS
from ashiato.collector.sqlquery import run_query
from ashiato.storage.backend import QueryResult, connection
from ashiato.storage.errors import StorageError, StoreInUse


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the usage of a command is its --help, not the error."""

    def error(self, message: str) -> NoReturn:
        """Print the error in one line, with where to read more, and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Settings every command shows in its --help; `serve --help` shows them all. Every command
# accepts every setting, since any of them may change where the store is.
_WHERE = ("data_dir", "clickhouse_url", "database", "cluster")


# Settings `policy render` lists in its --help besides `_WHERE`: those the notice states.
_NOTICE = frozenset(s.name for s in SETTINGS if s.section in ("consent", "retention")) | {
    "public_url",
    "token_days",
    "reverse_dns",
    "geoip_city_db",
    "geoip_asn_db",
}
_SHOWN: dict[str, frozenset[str]] = {"ashiato policy render": _NOTICE}


def _add_settings(
    parent: argparse.ArgumentParser, *, everything: bool, shown_too: frozenset[str] = frozenset()
) -> None:
    """Flags for every setting; all listed in help when `everything`, else only `_WHERE` and
    `shown_too`."""
    title = "settings (also ASHIATO_* variables or the config file)"
    if not everything:
        title = "where the data is (every setting of `ashiato serve --help` is accepted too)"
    group = parent.add_argument_group(title)
    group.add_argument("--config", metavar="FILE", help="TOML config file (ASHIATO_CONFIG)")
    # A command's own option wins over a setting's flag it has no use for (ingest-log's --host
    # is a site's base URL, not serve's listening address).
    own = {option for action in parent._actions for option in action.option_strings}
    for setting in SETTINGS:
        if setting.flag in own:
            continue
        metavar = "LIST" if setting.kind == "list" else setting.name.upper()
        default = ",".join(setting.default) if setting.kind == "list" else setting.default
        shown = everything or setting.name in _WHERE or setting.name in shown_too
        group.add_argument(
            setting.flag,
            dest=f"setting_{setting.name}",
            metavar=metavar,
            default=None,
            help=f"{setting.help} [{setting.env}; default: {default}]"
            if shown
            else argparse.SUPPRESS,
        )


def _commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every runnable (sub)command below `parser`, depth first."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_commands(child) or [child])
    return found


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
    """Run the collector until interrupted: a supervisor of edges and loaders (or, with
    `--loaders 0`, one process, or a supervisor of workers that do both)."""
    from ashiato.collector import serving

    server = config.server
    if server.workers > 1 and not server.loaders and not config.storage.clickhouse_url:
        raise CommandError(
            "--workers above 1 with --loaders 0 needs a ClickHouse server (clickhouse_url): "
            "the embedded store can be opened by one process only"
        )
    from ashiato.collector.listener import ListenError

    role = args.role
    # An edge never opens the store: in embedded mode the loader holds it.
    store = None if role == "edge" else store_for(config)
    try:
        if role is not None:
            try:
                serving.run_worker(config, store, role=role)
            finally:
                if store is not None:
                    store.close()
            return 0
        assert store is not None
        if server.loaders or server.workers > 1:
            return serving.run_supervisor(config, store, argv)
        return serving.run_single(config, store)
    except ListenError as exc:
        raise CommandError(str(exc)) from None


# --- migrate ----------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    """Create the database and apply pending migrations."""
    from ashiato.collector.app import prepare_storage

    try:
        store = store_for(config)
    except StoreInUse:
        print(
            f"nothing to do: a running ashiato server holds {config.data_dir} and migrated it "
            "when it started; a newer release migrates when it is started",
        )
        return 0
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


def cmd_schema() -> int:
    """Print the events table's columns: type, the purpose each needs, meaning."""
    from ashiato.collector.schemadoc import schema_markdown

    print(schema_markdown(), end="")
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
    """Print rows as TSV with a header, as one JSON array (json), or as JSON lines (jsonl)."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(json.dumps(result.dicts(), ensure_ascii=False, default=_json_default) + "\n")
        return
    if fmt == "jsonl":
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


def cmd_admin_token(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """Create, list or revoke admin API tokens; each is audited."""
    if args.action == "create":
        scopes = [s.strip() for s in args.scope.split(",") if s.strip()]
        made = privacy_cli.run_operation(
            config, env, "create_token", {"scopes": scopes, "label": args.label or ""}
        )
        print(made["token"])
        print(
            f"token {made['id']} with scopes {','.join(made['scopes'])}; "
            "it is shown only this once",
            file=sys.stderr,
        )
        return 0
    if args.action == "list":
        for token in privacy_cli.run_operation(config, env, "tokens", {}):
            print(
                f"{token['id']}  {token['label'] or '-'}  {','.join(token['scopes'])}  "
                f"created {token['created']}  last used {token['last_used'] or 'never'}"
            )
        return 0
    revoked = privacy_cli.run_operation(
        config, env, "revoke_token", {"id": args.id, "reason": args.reason or ""}
    )
    print(f"revoked token {revoked['id']} ({revoked['label'] or 'no label'})", file=sys.stderr)
    return 0


# --- ingest-log -------------------------------------------------------------------------------


def cmd_ingest_log(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """Read access-log files (or follow them) into the store and print a summary."""
    from ashiato.collector import ingest_cli

    paths = [Path(p) for p in args.files]
    for path in paths:
        if not args.follow:
            ingest_cli.open_lines(path).close()  # fail before any work on a bad path
    if not args.site:
        print(
            "ashiato: warning: no --site given; each line's site is its Host, when the log "
            "format records one ($host), and empty otherwise",
            file=sys.stderr,
        )
    sink = ingest_cli.make_sink(config, env, args)
    try:
        if args.follow:
            # Ctrl-C and systemd's SIGTERM end it the same orderly way: between two polls, never
            # as an exception raised wherever the process is (inside a lock, say).
            stop = threading.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda signum, frame: stop.set())
            print(f"following {len(paths)} file(s); Ctrl-C to stop", file=sys.stderr)
            counts = ingest_cli.follow_files(sink, paths, config.data_dir / "follow", stop=stop)
        else:
            counts = ingest_cli.ingest_files(sink, paths, progress=sys.stderr.isatty())
    finally:
        left = sink.close()
        if left:
            print(left, file=sys.stderr)
    if args.follow:
        print("stopped following; lines of this run:", file=sys.stderr)
    print(ingest_cli.summary(counts))
    if counts.read and not counts.stored and not counts.skipped:
        print("ashiato: error: no line was stored (see the rejections above)", file=sys.stderr)
        return 1
    return 0


# --- token ----------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace, config: Config) -> int:
    """Print a ready-to-paste e-mail open pixel or click link for a template."""
    keys = load_secrets(config.data_dir)
    recipient = recipient_pseudonym(args.recipient, keys.recipient_key)
    # The issue time lets hits in the first seconds after it be told apart as scanners'.
    issued = int(time.time())
    expires = issued + config.collection.token_days * 86400
    base = (args.base_url or config.server.base_url).rstrip("/")
    try:
        if args.action == "open":
            token = sign_token(
                EmailToken("open", args.campaign, recipient, expires, issued=issued), keys.tokens
            )
            print(f'<img src="{base}/o/{token}.gif" alt="" width="1" height="1">')
        elif args.action == "optout":
            token = sign_token(
                EmailToken("optout", args.campaign, recipient, expires, issued=issued), keys.tokens
            )
            print(f"{base}/u/{token}")
        else:
            # Non-ASCII in a pasted URL is percent-encoded; everything else is kept as given.
            url = urllib.parse.quote(args.url, safe="".join(map(chr, range(0x21, 0x7F))))
            token = sign_token(
                EmailToken("click", args.campaign, recipient, expires, url, issued=issued),
                keys.tokens,
            )
            print(f"{base}/c/{token}")
    except InvalidToken as exc:
        raise CommandError(str(exc).replace("cannot sign token: ", "")) from None
    return 0


# --- keys -----------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """Rotate the e-mail token key, or retire the visitor pseudonym key; both are audited."""
    reason = {"reason": args.reason or ""}
    if args.action == "rotate-tokens":
        done = privacy_cli.run_operation(config, env, "rotate_token_key", reason)
        print(
            f"new e-mail tokens are signed with key {done['key_id']}; "
            "links already sent keep working"
        )
    else:
        if not args.yes and not _confirmed(
            "Retiring the visitor key makes every stored visitor id unlinkable, for good. "
            "Type 'retire' to go on: "
        ):
            raise CommandError("not retired (pass --yes to skip this question)")
        privacy_cli.run_operation(config, env, "retire_visitor_key", {**reason, "confirm": True})
        print(
            "the visitor key is replaced and the old one is gone: stored visitor ids can no "
            "longer be linked to any browser"
        )
    _tell_server_to_reload(config, env)
    print(
        f"copy {config.data_dir / 'keys.json'} to every other collector of this deployment and "
        "reload them (systemctl reload ashiato, or kill -HUP)"
    )
    return 0


def _confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(question).strip() == "retire"


def _tell_server_to_reload(config: Config, env: Mapping[str, str]) -> None:
    """A server running on this data directory reads keys.json again (no restart needed)."""
    if not (config.data_dir / SERVER_FILE).exists():
        return
    try:
        call_admin_api(config, env, "/admin/keys/reload", {})
    except CommandError as exc:
        print(
            f"ashiato: warning: the running server did not reload its keys: {exc}", file=sys.stderr
        )
        return
    print("the running server now uses the new keys", file=sys.stderr)


# --- policy ---------------------------------------------------------------------------------


def cmd_policy(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """Write the privacy notice's access-log section from the settings serve would run with."""
    from ashiato.collector.notice import render_notice
    from ashiato.retention.provisions import ThirdParty

    # The recipients come from the ledger: over this process's store, or the running server's.
    found = privacy_cli.run_operation(config, env, "third_parties", {})
    parties = [
        ThirdParty(
            str(r["recipient"]),
            tuple(r["purposes"]),
            tuple(r["categories"]),
            bool(r["per_member"]),
            bool(r["aggregate"]),
        )
        for r in found["recipients"]
    ]
    sys.stdout.write(render_notice(config, parties, args.lang, args.format))
    return 0


# --- main -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    # Settings are added to every command last, so its own options come first in its --help.
    common = _Parser(add_help=False)
    parser = _Parser(prog="ashiato", description="Access-log and tracking telemetry collector.")
    parser.add_argument("--version", action="version", version=f"ashiato {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the collector")
    # Set by the supervisor on the processes it starts, so `ps` tells edges from loaders.
    serve.add_argument("--role", choices=ROLES, help=argparse.SUPPRESS)
    sub.add_parser("migrate", parents=[common], help="create or upgrade the schema")
    sub.add_parser(
        "schema", parents=[common], help="describe every column of the events table (Markdown)"
    )
    sql = sub.add_parser("sql", parents=[common], help="run a read-only query (audited)")
    sql.add_argument(
        "query",
        help="one SELECT, SHOW TABLES, DESCRIBE, EXISTS, SHOW CREATE TABLE or EXPLAIN statement "
        "over ashiato's own tables; no FORMAT, SETTINGS or INTO OUTFILE",
    )
    sql.add_argument(
        "--format",
        choices=("tsv", "json", "jsonl"),
        default="tsv",
        help="tsv with a header (default), json: one array of objects ([] when empty), "
        "jsonl: one object a line",
    )
    sql.add_argument("--reason", help="why (kept in the audit trail)")
    token = sub.add_parser("admin-token", help="manage admin API tokens")
    token_sub = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", parents=[common], help="create a token")
    create.add_argument(
        "--scope", required=True, help=f"comma-separated scopes: {', '.join(SCOPES)}"
    )
    create.add_argument("--label", help="what the token is for")
    token_sub.add_parser(
        "list", parents=[common], help="every token: id, label, scopes, created, last used"
    )
    revoke = token_sub.add_parser(
        "revoke", parents=[common], help="revoke a token; servers refuse it at once"
    )
    revoke.add_argument("id", help="the token's id (first column of admin-token list)")
    revoke.add_argument("--reason", help="why, for the audit trail")
    privacy_cli.add_parsers(sub, common)
    spool = sub.add_parser("spool", help="inspect the spool and re-drive dead letters")
    spool_sub = spool.add_subparsers(dest="action", required=True, metavar="ACTION")
    spool_sub.add_parser("status", parents=[common], help="rows waiting, per worker")
    spool_sub.add_parser("dead-letters", parents=[common], help="batches ClickHouse refused")
    spool_sub.add_parser("redrive", parents=[common], help="insert dead letters again")
    keys = sub.add_parser("keys", help="rotate or retire the keys in keys.json")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = keys_sub.add_parser(
        "rotate-tokens",
        parents=[common],
        help="sign new e-mail tokens with a new key (old ones still verify)",
    )
    retire = keys_sub.add_parser(
        "retire-visitor-key",
        parents=[common],
        help="replace the visitor pseudonym key so old visitor ids are unlinkable",
    )
    retire.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for key_parser in (rotate, retire):
        key_parser.add_argument("--reason", help="why, for the audit trail")
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
        "--host",
        metavar="BASE_URL",
        help="scheme and host the logged requests were made to: https://shop.example, or "
        "shop.example if the scheme is unknown; URLs are stored whole, like the beacon's "
        "(default: the line's $host and $scheme or $https, when the format has them)",
    )
    ingest.add_argument(
        "--follow",
        action="store_true",
        help="keep reading as the files grow, surviving rotation, like tail -F",
    )
    policy = sub.add_parser("policy", help="the privacy notice's access-log section")
    policy_sub = policy.add_subparsers(dest="action", required=True, metavar="ACTION")
    render = policy_sub.add_parser(
        "render",
        parents=[common],
        help="write what the access log records, for how long, its cookies and beacons, "
        "from the settings serve runs with",
    )
    render.add_argument(
        "--lang", choices=tuple(LANGUAGES), default="en", help="language (default: en)"
    )
    render.add_argument(
        "--format",
        choices=FORMATS,
        default="md",
        help="md: Markdown (default); html: a self-contained page",
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
    for command in _commands(parser):
        _add_settings(
            command,
            everything=command.prog == "ashiato serve",
            shown_too=_SHOWN.get(command.prog, frozenset()),
        )
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
            "schema": lambda: cmd_schema(),
            "sql": lambda: cmd_sql(args, config, env),
            "admin-token": lambda: cmd_admin_token(args, config, env),
            "token": lambda: cmd_token(args, config),
            "keys": lambda: cmd_keys(args, config, env),
            "ingest-log": lambda: cmd_ingest_log(args, config, env),
            "policy": lambda: cmd_policy(args, config, env),
            "spool": lambda: spool_cli.run(args, config, env),
            **{
                name: (lambda: privacy_cli.dispatch(args, config, env))
                for name in ("retention", "subject", "provision", "audit", "report", "optouts")
            },
        }
        return handlers[args.command]()
    except (ConfigError, CommandError, StorageError, BeaconError) as exc:
        print(f"ashiato: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The `ashiato` command as a process: private files, then `main`'s exit status."""
    # Spools, the embedded store, exports and keys hold personal data or secrets: whatever
    # this process creates (chdb's files included) is readable by the service's user only.
    os.umask(0o077)
    sys.exit(main())


if __name__ == "__main__":
    run()
