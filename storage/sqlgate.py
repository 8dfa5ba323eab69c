"""What a person's query is, decided by ClickHouse's own parser: one plain read, or refused.

The text never reaches an engine as code. ClickHouse's formatter, handed the text as a string
literal, turns it into one canonical statement (it refuses several and drops comments), and
`EXPLAIN AST` of that statement gives the syntax tree the rules below walk. Only the canonical
statement runs from then on, and it runs read-only and under limits (`storage.limits`), so a
case these rules miss still cannot write.

`EXPLAIN AST` prints one node per line, indented one space per level, e.g.
`TableIdentifier ashiato.events (alias e)` or `Function file (children 1)`. Names are printed
as they are, so a name holding a line break prints as two lines; the tree is therefore read
strictly (each node must have the children it announces) and every rule refuses on what a
real line says, so a forged line can only add a refusal, never hide one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NoReturn

from ashiato.storage._sql import check_identifier, literal
from ashiato.storage.errors import QueryRefused, QueryRejected

# Runs one statement of ours and returns its rows' first column as text.
Rows = Callable[[str], list[str]]

DATABASES_SQL = "SELECT name FROM system.databases"
# Present in every engine, listed or not (clickhouse-local's `_local` reads files by name).
_BUILTIN_DATABASES = frozenset(
    {"system", "default", "information_schema", "INFORMATION_SCHEMA", "_local"}
)
_ROOTS = frozenset(
    {
        "SelectWithUnionQuery",
        "ShowTables",
        "DescribeQuery",
        "ExistsTableQuery",
        "ShowCreateTableQuery",
        "Explain",
    }
)
# Functions that read files, dictionaries, models, Join tables, other tables or the process.
_OUTSIDE_FUNCTIONS = frozenset(
    {
        "file",
        "catboostevaluate",
        "modelevaluate",
        "evalmlmethod",
        "naivebayesclassifier",
        "hascolumnintable",
        "generateserialid",
        "addresstoline",
        "addresstolinewithinlines",
        "addresstosymbol",
        "demangle",
    }
)
_OUTSIDE_PREFIXES = ("dict", "joinget")
_UNREADABLE = "ClickHouse's syntax tree of this query could not be read unambiguously"


@dataclass(frozen=True, slots=True)
class Parsed:
    """A query as ClickHouse's parser sees it: the canonical statement and its syntax tree."""

    canonical: str
    ast: tuple[str, ...]


def parse(text: str, rows: Rows) -> Parsed:
    """Canonicalise `text` and get its syntax tree, with `rows` running our two statements."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryRefused("the query is not valid UTF-8 text") from None
    if not text.strip():
        raise QueryRefused("the query is empty")
    try:
        formatted = rows(f"SELECT formatQuery({literal(text)})")
    except QueryRefused:
        raise
    except QueryRejected as exc:
        raise QueryRefused(f"not one valid statement: {reason(exc)}") from None
    if len(formatted) != 1 or not formatted[0].strip():
        raise QueryRefused("not one valid statement")
    canonical = formatted[0].strip()
    try:
        tree = rows(f"EXPLAIN AST {canonical}")
    except QueryRejected as exc:
        raise QueryRefused(f"not one valid statement: {reason(exc)}") from None
    return Parsed(canonical, tuple(tree))


def reason(exc: QueryRejected) -> str:
    """The engine's own words, without our prefix and without the query it echoes back."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    words = message.split("DB::Exception: ", 1)[-1]
    if words.startswith("ClickHouse rejected"):
        words = words.split(": ", 1)[-1]
    return words.split(": In scope ", 1)[0].strip()


def other_databases(listed: list[str], database: str) -> frozenset[str]:
    """Every database name but ours: those the engine lists and those it always has."""
    return (frozenset(listed) | _BUILTIN_DATABASES) - {database}


@dataclass(slots=True)
class Node:
    """One line of `EXPLAIN AST`: its kind, the rest of the line, and its children."""

    kind: str
    detail: str
    announced: int
    children: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The name a Function, Identifier or TableIdentifier node carries, alias left off."""
        return self.detail.split(" (alias ", 1)[0]

    def walk(self) -> Iterator[tuple[Node, Node | None]]:
        """Every node below and including this one, with its parent."""
        stack: list[tuple[Node, Node | None]] = [(self, None)]
        while stack:
            node, parent = stack.pop()
            yield node, parent
            stack.extend((child, node) for child in reversed(node.children))


def tree(lines: tuple[str, ...]) -> Node:
    """The syntax tree of `EXPLAIN AST` output; refuses output that is not a consistent tree."""
    root: Node | None = None
    path: list[Node] = []
    for line in lines:
        text = line.lstrip(" ")
        depth = len(line) - len(text)
        kind, _, detail = text.partition(" ")
        announced = 0
        head, marker, count = detail.rpartition("(children ")
        if marker and count.endswith(")") and count[:-1].isdigit():
            detail, announced = head.rstrip(" "), int(count[:-1])
        if not kind.isidentifier() or depth > len(path) or (depth == 0 and root is not None):
            raise QueryRefused(_UNREADABLE)
        node = Node(kind, detail, announced)
        if depth == 0:
            root = node
        else:
            path[depth - 1].children.append(node)
        del path[depth:]
        path.append(node)
    if root is None or any(len(n.children) != n.announced for n, _ in root.walk()):
        raise QueryRefused(_UNREADABLE)
    return root


def check(parsed: Parsed, database: str, others: frozenset[str]) -> None:
    """Refuse `parsed` unless it is one plain read of `database`'s tables; say why in one line."""
    root = tree(parsed.ast)
    _check_statement(root, parsed.canonical, database)
    lowered = frozenset(name.lower() for name in others)
    for node, parent in root.walk():
        _check_node(node, parent, database, lowered)


def _check_statement(root: Node, canonical: str, database: str) -> None:
    """The statement itself: one of the reading kinds, with no clause that writes or reformats."""
    if root.kind not in _ROOTS:
        raise QueryRefused(
            "only one reading statement is allowed here (SELECT, SHOW TABLES, DESCRIBE, "
            f"EXISTS, SHOW CREATE TABLE, EXPLAIN), not {root.kind}"
        )
    if root.kind == "SelectWithUnionQuery":
        return  # its clauses are checked with every other node
    if root.kind == "Explain":
        for child in root.children:
            if child.kind == "Set":
                _refuse_clause(child)
        if len(root.children) != 1:
            raise QueryRefused("EXPLAIN is allowed here only of one reading statement")
        inner = canonical.removeprefix(root.detail).lstrip()
        _check_statement(root.children[0], inner, database)
        return
    if root.kind == "ShowTables":
        # SHOW DATABASES, CLUSTERS, SETTINGS… print as ShowTables too; only tables are listed.
        if not canonical.startswith("SHOW TABLES"):
            raise QueryRefused("of the SHOW statements only SHOW TABLES is allowed here")
        for child in root.children:
            if child.kind == "Identifier" and (child.name != database or len(root.children) > 1):
                raise QueryRefused(
                    "SHOW TABLES may name only ashiato's database, with no FORMAT clause: "
                    + child.name
                )
            if child.kind != "Identifier":
                _refuse_clause(child)
        return
    if root.kind == "DescribeQuery":
        expected = ["TableExpression"]
    else:  # ExistsTableQuery, ShowCreateTableQuery: "<database> <table>" after the kind
        named, _, _ = root.detail.partition(" ")
        if named and named != database:
            raise QueryRefused(f"tables outside ashiato's database are not allowed here: {named}")
        expected = ["Identifier"] * (2 if named else 1)
    for position, child in enumerate(root.children):
        if position >= len(expected) or child.kind != expected[position]:
            _refuse_clause(child)


def _refuse_clause(node: Node) -> NoReturn:
    """Refuse a clause a reading statement may not carry here: INTO OUTFILE, FORMAT, SETTINGS."""
    if node.kind == "Literal":
        raise QueryRefused("INTO OUTFILE is not allowed here")
    if node.kind == "Set":
        raise QueryRefused("a SETTINGS clause is not allowed here")
    if node.kind == "Identifier":
        raise QueryRefused(f"a FORMAT clause is not allowed here: FORMAT {node.name}")
    raise QueryRefused(f"this clause is not allowed here: {node.kind} {node.detail}".rstrip())


def _check_node(node: Node, parent: Node | None, database: str, others: frozenset[str]) -> None:
    """Rules for any node, wherever it is in the tree."""
    if node.kind == "Set":
        raise QueryRefused("a SETTINGS clause is not allowed here")
    if node.kind == "SelectWithUnionQuery":
        # Its only child is the list of SELECTs; INTO OUTFILE, FORMAT and SETTINGS come after.
        for child in node.children[1:]:
            _refuse_clause(child)
    elif node.kind == "Function":
        name = node.name.split(" ", 1)[0]
        if parent is not None and parent.kind == "TableExpression":
            raise QueryRefused(f"table functions are not allowed here: {name}()")
        lowered = name.lower()
        if lowered in _OUTSIDE_FUNCTIONS or lowered.startswith(_OUTSIDE_PREFIXES):
            raise QueryRefused(
                f"functions that reach outside the database are not allowed here: {name}()"
            )
    elif node.kind in ("TableIdentifier", "Identifier") and _outside(node, database, others):
        raise QueryRefused(f"tables outside ashiato's database are not allowed here: {node.name}")


def _outside(node: Node, database: str, others: frozenset[str]) -> bool:
    """Whether a table name, or a name that may be one, is in another database."""
    parts = node.name.split(".")
    if node.kind == "TableIdentifier":
        if not all(_plain(part) for part in parts):
            # ashiato's tables have plain names; where a database reads files by name
            # (clickhouse-local's `default`), a name like `/etc/passwd` is a file.
            raise QueryRefused(f"only plain table names are allowed here: {node.name}")
        return len(parts) > 2 or (len(parts) == 2 and parts[0] != database)
    # A qualified name where a column could stand may name a table: `x IN system.users`.
    return len(parts) > 1 and parts[0].lower() in others


def _plain(name: str) -> bool:
    try:
        check_identifier(name)
    except QueryRejected:
        return False
    return True
