"""Generated statements for the query gate, each knowing whether it is a plain read.

Composed from fragments: reads, writes, table functions in several quotings, SETTINGS, FORMAT
and INTO OUTFILE clauses, other databases, comments, and several statements in one text.
`{dir}` and `{url}` are the data directory holding secrets and a URL that counts requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st


@dataclass(frozen=True)
class Statement:
    """Query text, and whether it is one plain read of ashiato's own tables."""

    text: str
    plain_read: bool


SELECTS = (
    "SELECT count() FROM events",
    "SELECT site, kind FROM events_data WHERE ts_ms > 0 ORDER BY site LIMIT 5",
    "SELECT 1 AS one",
    "SELECT actor, count() AS n FROM audit_log GROUP BY actor",
    "SELECT 'a;b -- /* not a comment */' AS text",
    "SELECT getSetting('readonly') AS ro, getSetting('max_execution_time') AS t",
)
OTHER_READS = ("SHOW TABLES", "DESCRIBE events", "EXISTS audit_log", "SHOW CREATE TABLE members")
WRITES = (
    "INSERT INTO audit_log (actor, action) VALUES ('forged', 'sql')",
    "INSERT INTO members (member_id) SELECT 'forged'",
    "DROP TABLE members",
    "TRUNCATE TABLE audit_log",
    "ALTER TABLE audit_log DELETE WHERE 1",
    "CREATE TABLE pwned (a UInt8) ENGINE = Memory",
    "RENAME TABLE members TO pwned",
    "SET readonly = 0",
    "OPTIMIZE TABLE audit_log FINAL",
    "SYSTEM DROP MARK CACHE",
    "DETACH TABLE members",
    "KILL QUERY WHERE 1",
)
TABLE_FUNCTIONS = (
    "file('{dir}/admin.token', 'LineAsString')",
    "url('{url}', 'LineAsString')",
    "remote('127.0.0.1', system.one)",
    "numbers(10)",
    "executable('id', 'TSV', 'x String')",
    "merge('system', '.*')",
    "s3('{url}', 'LineAsString')",
)
OUTSIDE = (
    "system.one",
    "system.tables",
    "default.`{dir}/keys.json`",
    "information_schema.tables",
)
CLAUSES = (
    " SETTINGS readonly = 0",
    " SETTINGS max_execution_time = 0",
    " FORMAT TSV",
    " INTO OUTFILE '{dir}/admin_tokens.json' TRUNCATE",
)
COMMENTS = ("", " ", "-- a comment\n", "/* a comment */ ", "/* ; DROP TABLE members */ ")
SEPARATORS = (";", ";\n", "; -- next\n", "\n;", " /* x */ ;")


def _quoted(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from((name, f"`{name}`", f'"{name}"', name.upper()))


@st.composite
def _table_function(draw: st.DrawFn) -> str:
    call = draw(st.sampled_from(TABLE_FUNCTIONS))
    name, _, args = call.partition("(")
    source = f"{draw(_quoted(name))}({args}"
    return draw(
        st.sampled_from(
            (
                f"SELECT * FROM {source}",
                f"SELECT count() FROM events WHERE site IN (SELECT * FROM {source})",
                f"WITH t AS (SELECT * FROM {source}) SELECT * FROM t",
                f"DESCRIBE {source}",
                f"EXPLAIN SELECT * FROM {source}",
            )
        )
    )


def _one() -> st.SearchStrategy[Statement]:
    """One statement, a plain read or not."""
    selects = st.sampled_from(SELECTS)
    reads = st.one_of(
        selects,
        st.sampled_from(OTHER_READS),
        selects.map(lambda s: f"SELECT * FROM ({s})"),
        selects.map(lambda s: f"EXPLAIN {s}"),
    ).map(lambda text: Statement(text, True))
    unsafe = st.one_of(
        st.sampled_from(WRITES),
        _table_function(),
        st.sampled_from(OUTSIDE).map(lambda t: f"SELECT * FROM {t}"),
        st.sampled_from(OUTSIDE).map(lambda t: f"SELECT 1 FROM events WHERE 1 IN {t}"),
        st.builds(lambda s, c: s + c, selects, st.sampled_from(CLAUSES)),
        st.builds(lambda s, c: f"SELECT * FROM ({s}{c})", selects, st.sampled_from(CLAUSES[:2])),
        st.sampled_from(("file", "dictGet", "joinGet", "hasColumnInTable")).map(
            lambda f: f"SELECT {f}('{{dir}}/keys.json', 'x', 'y')"
        ),
    ).map(lambda text: Statement(text, False))
    return st.one_of(reads, unsafe)


@st.composite
def statements(draw: st.DrawFn) -> Statement:
    """One to three statements with comments around them, as one text."""
    # Mostly one statement, so that the rules for one are exercised as much as splitting is.
    count = draw(st.sampled_from((1, 1, 1, 1, 2, 3)))
    parts = draw(st.lists(_one(), min_size=count, max_size=count))
    text = draw(st.sampled_from(COMMENTS)) + parts[0].text
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + draw(st.sampled_from(COMMENTS)) + part.text
    text += draw(st.sampled_from(("", ";", " ", "\n", " /* end */", " -- end")))
    return Statement(text, len(parts) == 1 and parts[0].plain_read)
