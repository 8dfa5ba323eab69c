"""People's SQL through the query gate, on both backends: every attack of issue 12 is refused
with its reason and changes nothing, ordinary reads run, a slow query stops at its limit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from ashiato.collector.sqlquery import run_query
from ashiato.storage.backend import connection
from ashiato.storage.errors import QueryLimitExceeded, QueryRefused, QueryRejected
from ashiato.storage.limits import QueryLimits
from tests.security.sqlgate_fixtures import LIMITS, Target, open_target
from tests.security.sqlgate_statements import Statement, statements

ACTOR = "test:gate"
FORGED_TOKENS = '{"tokens": [{"id": "x", "sha256": "00", "scopes": ["admin"], "created": 0}]}'

# name: (query, a part of the reason it must be refused with). {dir} is the data directory
# holding admin.token, admin_tokens.json and keys.json; {url} a server that counts requests.
ATTACKS: dict[str, tuple[str, str]] = {
    "quoted-file-table-function": (
        "SELECT * FROM `file`('{dir}/admin.token', 'LineAsString')",
        "table functions are not allowed here: file()",
    ),
    "file-function": (
        "SELECT file('{dir}/keys.json')",
        "reach outside the database are not allowed here: file()",
    ),
    "file-in-cte": (
        "WITH t AS (SELECT * FROM file('{dir}/admin.token', 'LineAsString')) SELECT * FROM t",
        "table functions",
    ),
    "url": ("SELECT * FROM url('{url}', 'LineAsString')", "table functions are not allowed"),
    "url-in-subquery": (
        "SELECT count() FROM events WHERE site IN (SELECT * FROM url('{url}', 'LineAsString'))",
        "url()",
    ),
    "describe-url": ("DESCRIBE url('{url}', 'LineAsString')", "url()"),
    "remote": ("SELECT * FROM remote('127.0.0.1', system.one)", "remote()"),
    "executable": ("SELECT * FROM executable('id', 'TSV', 'x String')", "executable()"),
    "into-outfile": (
        f"SELECT '{FORGED_TOKENS}' INTO OUTFILE '{{dir}}/admin_tokens.json' TRUNCATE",
        "INTO OUTFILE",
    ),
    "into-outfile-new-file": ("SELECT 1 INTO OUTFILE '{dir}/new.txt'", "INTO OUTFILE"),
    "hidden-after-line-comment": (
        "SELECT 1 -- only a read\n; INSERT INTO audit_log (actor, action) VALUES ('forged', 'sql')",
        "Multi-statements are not allowed",
    ),
    "hidden-after-block-comment": (
        "SELECT 1 /* only a read */; CREATE TABLE pwned (a UInt8) ENGINE = Memory",
        "Multi-statements are not allowed",
    ),
    "hidden-drop": ("SELECT 1;DROP TABLE members", "Multi-statements"),
    "settings-readonly-0": ("SELECT * FROM events SETTINGS readonly = 0", "SETTINGS"),
    "settings-in-subquery": ("SELECT * FROM (SELECT 1 SETTINGS readonly = 0)", "SETTINGS"),
    "system-users": (
        "SELECT * FROM system.users",
        "outside ashiato's database are not allowed here: system.users",
    ),
    "system-table-in-in": ("SELECT 1 FROM events WHERE 1 IN system.one", "system.one"),
    "file-by-name-in-default": (
        "SELECT * FROM default.`{dir}/admin.token`",
        "only plain table names are allowed here",
    ),
    "file-by-name": ("SELECT * FROM `{dir}/admin.token`", "only plain table names"),
    "file-by-name-in-in": (
        "SELECT 1 FROM events WHERE 1 IN default.`{dir}/keys.json`",
        "outside ashiato's database",
    ),
    "dictget": ("SELECT dictGet('ashiato_dict', 'value', toUInt64(1))", "dictGet()"),
    "joinget": ("SELECT joinGet('members', 'member_id', 'x')", "joinGet()"),
    "format": ("SELECT 1 FORMAT TSV", "FORMAT TSV"),
    "show-tables-format": ("SHOW TABLES FORMAT TSV", "FORMAT"),
    "show-tables-of-system": ("SHOW TABLES FROM system", "ashiato's database"),
    "show-databases": ("SHOW DATABASES", "only SHOW TABLES"),
    "exists-other-database": ("EXISTS system.users", "outside ashiato's database"),
    "show-create-other-database": ("SHOW CREATE TABLE system.one", "outside ashiato's database"),
    "explain-table-function": (
        "EXPLAIN SELECT * FROM file('{dir}/admin.token', 'LineAsString')",
        "file()",
    ),
    "explain-settings": ("EXPLAIN header = 1 SELECT 1", "SETTINGS"),
    "insert": (
        "INSERT INTO audit_log (actor, action) VALUES ('forged', 'sql')",
        "only one reading statement",
    ),
    "insert-select": ("INSERT INTO audit_log (actor, action) SELECT 'forged', 'sql'", "Insert"),
    "drop": ("DROP TABLE events_data", "only one reading statement"),
    "truncate": ("TRUNCATE TABLE audit_log", "only one reading statement"),
    "alter-delete": ("ALTER TABLE audit_log DELETE WHERE 1", "only one reading statement"),
    "create": ("CREATE TABLE pwned (a UInt8) ENGINE = Memory", "only one reading statement"),
    "set": ("SET readonly = 0", "only one reading statement"),
    "forged-tree-line": ("SELECT * FROM events AS `x\n  Literal 'y'`", "syntax tree"),
    "empty": (" -- nothing\n", "Empty query"),
}

# name: (query, whether it needs an engine newer than ClickHouse 18.16 to run).
READS: dict[str, tuple[str, bool]] = {
    "count": ("SELECT count() FROM events", False),
    "join": (
        "SELECT count() FROM events AS e INNER JOIN identity_links AS l "
        "ON e.member_id = l.member_id",
        False,
    ),
    "subquery": (
        "SELECT site FROM events WHERE visitor_id IN (SELECT visitor_id FROM identity_links)",
        False,
    ),
    "cte": ("WITH s AS (SELECT site FROM events) SELECT count() FROM s", True),
    "semicolon-in-a-string": ("SELECT 'a;b' AS x;", False),
    "comment": ("SELECT 1 -- a comment\n", False),
    "qualified-own-table": ("SELECT count() FROM {database}.events", False),
    "show-tables": ("SHOW TABLES", False),
    "describe": ("DESCRIBE events", False),
    "exists": ("EXISTS events", False),
    "show-create": ("SHOW CREATE TABLE audit_log", False),
    "explain": ("EXPLAIN SELECT count() FROM events", True),
}


@pytest.fixture(scope="module", params=["server", "embedded"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """A migrated store on each backend, beside a data directory holding secrets."""
    yield from open_target(request, tmp_path_factory)


def _attack(target: Target, name: str) -> str:
    query, _ = ATTACKS[name]
    return query.replace("{dir}", str(target.data_dir)).replace("{url}", target.canary.url)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_is_refused_with_its_reason_and_changes_nothing(
    target: Target,
    name: str,
) -> None:
    query, reason = _attack(target, name), ATTACKS[name][1]
    before = target.snapshot()
    with connection(target.store) as backend, pytest.raises(QueryRefused) as refused:
        run_query(backend, query, LIMITS, ACTOR)
    message = str(refused.value)
    assert reason in message and "\n" not in message
    after = target.snapshot()
    assert after.files == before.files, "a file of the data directory was written"
    assert after.tables == before.tables, "a table was created or dropped"
    assert target.canary.hits == 0, "a URL was fetched"
    assert after.audit - before.audit == {(ACTOR, "sql:refused", query): 1}
    assert before.audit - after.audit == {}
    assert not any(actor == "forged" for actor, _, _ in after.audit)


@pytest.mark.parametrize("name", list(READS))
def test_an_ordinary_read_is_accepted(target: Target, name: str) -> None:
    query, needs_newer = READS[name]
    query = query.replace("{database}", target.store.database)
    with connection(target.store) as backend:
        if needs_newer and not backend.capabilities.parse_queries:
            # The gate lets it through; ClickHouse 18.16 itself does not know the syntax.
            with pytest.raises(QueryRejected) as rejected:
                run_query(backend, query, LIMITS, ACTOR)
            assert not isinstance(rejected.value, QueryRefused)
            return
        result = run_query(backend, query, LIMITS, ACTOR)
        assert result.columns
        rows = backend.query(
            "SELECT rows FROM audit_log WHERE action = 'sql' AND detail = %(q)s", {"q": query}
        ).rows
    assert rows == [(len(result.rows),)]


def test_the_settings_of_a_read_are_the_limits_and_readonly(target: Target) -> None:
    with connection(target.store) as backend:
        if not backend.capabilities.parse_queries:
            pytest.skip("ClickHouse 18.16 has no getSetting(); its limits are tested by time")
        result = backend.user_query(
            "SELECT getSetting('readonly'), getSetting('max_execution_time'), "
            "getSetting('max_result_rows'), getSetting('max_memory_usage')",
            LIMITS,
        )
    assert result.rows == [(1, LIMITS.timeout_seconds, LIMITS.max_rows, LIMITS.max_memory_bytes)]


def test_a_query_over_the_time_limit_is_stopped_with_a_clear_error(
    target: Target,
) -> None:
    with connection(target.store) as backend:
        backend.execute("CREATE TABLE IF NOT EXISTS big (x UInt64) ENGINE = MergeTree ORDER BY x")
        if not backend.query("SELECT count() FROM big").scalar():
            backend.execute("INSERT INTO big SELECT number FROM system.numbers LIMIT 10000000")
        limits = QueryLimits(1, 2 << 30, LIMITS.max_rows, LIMITS.max_result_bytes)
        query = "SELECT sum(cityHash64(x, i)) FROM big ARRAY JOIN range(300) AS i"
        started = time.monotonic()
        with pytest.raises(QueryLimitExceeded) as stopped:
            run_query(backend, query, limits, ACTOR)
        took = time.monotonic() - started
        refused = backend.query(
            "SELECT reason FROM audit_log WHERE action = 'sql:refused' AND detail = %(q)s",
            {"q": query},
        ).rows
    assert stopped.value.limit == "time"
    assert "ran longer than 1 s" in str(stopped.value) and "sql_timeout_seconds" in str(
        stopped.value
    )
    assert took < 10
    assert len(refused) == 1 and "ran longer than 1 s" in refused[0][0]


def test_a_result_over_the_row_limit_is_refused(target: Target) -> None:
    with connection(target.store) as backend:
        backend.execute("CREATE TABLE IF NOT EXISTS few (x UInt64) ENGINE = MergeTree ORDER BY x")
        if not backend.query("SELECT count() FROM few").scalar():
            backend.execute("INSERT INTO few SELECT number FROM system.numbers LIMIT 10")
        limits = QueryLimits(10, 1 << 30, 3, 1 << 20)
        with pytest.raises(QueryLimitExceeded) as stopped:
            backend.user_query("SELECT x FROM few", limits)
        # The next query gets its own result, nothing left over from the one stopped.
        assert backend.user_query("SELECT count() FROM few", limits).rows == [(10,)]
    assert stopped.value.limit == "rows"


def test_generated_statements_only_plain_reads_pass_and_they_run_limited(
    target: Target,
) -> None:
    before = target.snapshot()
    # Each parse on ClickHouse 18.16 starts a chdb child (about a second), so fewer there.
    slow = not _parses_in_process(target)

    @settings(
        max_examples=8 if slow else 60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(statements())
    def check(statement: Statement) -> None:
        text = statement.text.replace("{dir}", str(target.data_dir))
        text = text.replace("{url}", target.canary.url)
        with connection(target.store) as backend:
            try:
                result = backend.user_query(text, LIMITS)
            except QueryRefused as refused:
                assert not statement.plain_read, f"a plain read was refused: {refused}"
                return
            except QueryRejected:
                # Accepted by the gate, then refused by ClickHouse (18.16 lacks some syntax).
                assert statement.plain_read, f"accepted, not a plain read: {text!r}"
                return
        assert statement.plain_read, f"accepted, not a plain read: {text!r}"
        if result.columns == ("ro", "t"):
            assert result.rows == [(1, LIMITS.timeout_seconds)]

    check()
    after = target.snapshot()
    assert after.files == before.files and after.tables == before.tables
    assert after.audit == before.audit
    assert target.canary.hits == 0


def _parses_in_process(target: Target) -> bool:
    with connection(target.store) as backend:
        return backend.capabilities.parse_queries
