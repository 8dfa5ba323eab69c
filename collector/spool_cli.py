"""`ashiato spool status|dead-letters|redrive`: look into the spool and re-drive dead letters."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from ashiato.collector.adminclient import call_admin_api
from ashiato.collector.config import Config, store_for
from ashiato.storage.deadletter import dead_letters, redrive, spool_status
from ashiato.storage.errors import StoreInUse


def spool_dirs(config: Config) -> list[Path]:
    """Every spool directory under the data directory: each worker's, each ingest-log run's."""
    root = config.data_dir / "spool"
    if not root.is_dir():
        return []
    return sorted(
        p for pattern in ("worker-*", "ingest-*") for p in root.glob(pattern) if p.is_dir()
    )


def cmd_status(config: Config) -> int:
    """Print what each worker's spool holds."""
    dirs = spool_dirs(config)
    if not dirs:
        print(f"no spool under {config.data_dir / 'spool'}")
    for directory in dirs:
        status = spool_status(directory)
        print(
            f"{directory.name}: {status['unacked']} rows waiting in {status['segments']} "
            f"segment(s), {status['bytes']} bytes, oldest {status['oldest_age']:.1f}s, "
            f"{status['corrupt']} corrupt region(s) skipped, {status['dead_letters']} dead "
            f"letter(s){', in use' if status['in_use'] else ''}"
        )
    return 0


def cmd_dead_letters(config: Config) -> int:
    """List dead-lettered batches with the error ClickHouse gave."""
    found = 0
    for directory in spool_dirs(config):
        for letter in dead_letters(directory):
            found += 1
            print(
                f"{letter.path}\t{letter.created.isoformat()}\t{len(letter.rows)} rows\t"
                f"{letter.error}"
            )
    if not found:
        print("no dead letters")
    return 0


def redrive_all(config: Config) -> int:
    """Re-insert every dead letter of every worker through this process's store."""
    store = store_for(config)
    try:
        return sum(redrive(directory, store) for directory in spool_dirs(config))
    finally:
        store.close()


def cmd_redrive(config: Config, env: Mapping[str, str]) -> int:
    """Re-drive dead letters, through the running server when it holds the embedded store."""
    try:
        rows = redrive_all(config)
    except StoreInUse:
        rows = int(call_admin_api(config, env, "/admin/spool/redrive", {})["rows"])
    print(f"re-inserted {rows} rows; see `ashiato spool dead-letters` for any left")
    return 0


def run(args: argparse.Namespace, config: Config, env: Mapping[str, str]) -> int:
    """Dispatch a `spool` action."""
    if args.action == "status":
        return cmd_status(config)
    if args.action == "dead-letters":
        return cmd_dead_letters(config)
    return cmd_redrive(config, env)
