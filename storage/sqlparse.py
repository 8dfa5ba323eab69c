"""ClickHouse's parser in a short-lived child process, for servers too old to parse for us.

Servers before 23.10 have no `formatQuery` (18.16 has no `EXPLAIN AST` either). chdb has both,
but it allows one engine per process and the calling process may hold the embedded store, so
a child runs chdb in memory, read-only: `python -P -m ashiato.storage.sqlparse` reads the query
on stdin and prints one JSON line, the canonical statement and its syntax tree, or why not.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from typing import Any

from ashiato.storage.errors import QueryRefused, QueryRejected
from ashiato.storage.sqlgate import Parsed, parse

NO_PARSER = (
    "this ClickHouse server is older than 23.10 and cannot parse queries for the SQL gate; "
    "install chdb with `pip install 'ashiato[embedded]'` so ashiato can, or use a newer server"
)
_TIMEOUT_SECONDS = 30.0


def parse_in_child(text: str, timeout: float = _TIMEOUT_SECONDS) -> Parsed:
    """Parse `text` with chdb in a child process; refuse it when that cannot be done."""
    if importlib.util.find_spec("chdb") is None:
        raise QueryRefused(NO_PARSER)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryRefused("the query is not valid UTF-8 text") from None
    try:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "ashiato.storage.sqlparse"],
            input=data,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise QueryRefused(f"the query could not be parsed within {timeout:g} s") from None
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        answer: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if "refused" in answer:
        raise QueryRefused(str(answer["refused"]))
    if not isinstance(answer.get("canonical"), str) or not isinstance(answer.get("ast"), list):
        raise QueryRefused(f"the query could not be parsed (parser exit status {done.returncode})")
    return Parsed(answer["canonical"], tuple(str(line) for line in answer["ast"]))


def main() -> int:
    """Read one query on stdin, print its parse as one JSON line."""
    text = sys.stdin.buffer.read().decode("utf-8", "replace")
    try:
        chdb_session: Any = importlib.import_module("chdb.session")
    except ImportError:
        print(json.dumps({"refused": NO_PARSER}))
        return 0
    from ashiato.storage.embedded import translate

    # In memory, holding nothing: this engine only ever parses. (Not read-only: EXPLAIN AST
    # applies a query's SETTINGS clause, and the gate's answer to that clause is the point.)
    session = chdb_session.Session(":memory:")

    def rows(sql: str) -> list[str]:
        try:
            raw = session.query(sql, "JSONCompact").bytes()
        except Exception as exc:  # chdb raises plain exceptions; translated to ours here
            raise translate(exc) from exc
        return [str(row[0]) for row in json.loads(raw)["data"]] if raw.strip() else []

    try:
        parsed = parse(text, rows)
    except QueryRejected as exc:
        print(json.dumps({"refused": str(exc)}))
        return 0
    finally:
        session.close()
    print(json.dumps({"canonical": parsed.canonical, "ast": list(parsed.ast)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
