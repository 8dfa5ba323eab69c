"""Access-log lines from nginx and Apache, custom formats, and lines that must not crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ashiato.beacon.accesslog import (
    PRESETS,
    REJECT_REASONS,
    LogFormatError,
    LogParser,
    LogRecord,
    Rejected,
    format_line,
)
from ashiato.beacon.errors import BeaconError

COMBINED = LogParser("combined")
CUSTOM_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time "$http_x_forwarded_for"'
)
CUSTOM = LogParser(CUSTOM_FORMAT)

# 10/Oct/2000:13:55:36 -0700
OCT_10_2000 = 971_211_336_000


def record(line: bytes | str, parser: LogParser = COMBINED) -> LogRecord:
    result = parser.parse(line)
    assert isinstance(result, LogRecord), result
    return result


def test_apache_combined_documentation_example() -> None:
    line = (
        b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
        b'"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"\n'
    )
    assert record(line) == LogRecord(
        remote_addr="127.0.0.1",
        time_ms=OCT_10_2000,
        method="GET",
        path="/apache_pb.gif",
        protocol="HTTP/1.0",
        status=200,
        bytes_sent=2326,
        referer="http://www.example.com/start.html",
        user_agent="Mozilla/4.08 [en] (Win98; I ;Nav)",
        request_time_ms=0,
        x_forwarded_for="",
        host="",
        request="GET /apache_pb.gif HTTP/1.0",
        valid_request=True,
        extra={"remote_user": "frank"},
    )


def test_apache_common_with_dash_for_zero_bytes() -> None:
    line = '192.0.2.10 - - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.1" 304 -\r\n'
    got = record(line, LogParser("common"))
    assert (got.method, got.status, got.bytes_sent, got.referer) == ("HEAD", 304, 0, "")
    assert got.extra == {"remote_user": ""}


def test_nginx_combined_ipv6_peer() -> None:
    line = (
        b'2001:db8:85a3::8a2e:370:7334 - - [22/Nov/2023:01:30:35 +0000] "GET /blog/?p=1&q=%20x '
        b'HTTP/2.0" 200 5120 "https://www.google.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) '
        b'Gecko/20100101 Firefox/120.0"'
    )
    got = record(line)
    assert got.remote_addr == "2001:db8:85a3::8a2e:370:7334"
    assert got.time_ms == int(datetime(2023, 11, 22, 1, 30, 35, tzinfo=UTC).timestamp()) * 1000
    assert (got.method, got.path, got.protocol) == ("GET", "/blog/?p=1&q=%20x", "HTTP/2.0")
    assert got.user_agent.startswith("Mozilla/5.0 (X11;")


def test_nginx_escapes_are_undone() -> None:
    # nginx writes ", \, control and non-ASCII bytes as \xHH.
    line = (
        rb'198.51.100.4 - - [10/Oct/2000:13:55:36 -0700] "GET /caf\xC3\xA9?q=\x22hi\x22 HTTP/1.1"'
        rb' 200 12 "https://example.com/a\x5Cb" "Bot \x22quoted\x22 \xE2\x80\x99\x09tab"'
    )
    got = record(line)
    assert got.path == '/café?q="hi"'
    assert got.referer == "https://example.com/a\\b"
    assert got.user_agent == 'Bot "quoted" \u2019\ttab'


def test_apache_backslash_escapes_are_undone() -> None:
    line = (
        rb'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 '
        rb'"https://example.com/?q=\"x\"" "Mozilla \"compatible\" C:\\path \x41"'
    )
    got = record(line)
    assert got.referer == 'https://example.com/?q="x"'
    assert got.user_agent == 'Mozilla "compatible" C:\\path A'


def test_invalid_utf8_is_replaced_not_raised() -> None:
    line = (
        b'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /\xff\xfe HTTP/1.1" 200 1 '
        b'"-" "agent \xc3\x28 \xe2\x82"'
    )
    got = record(line)
    assert got.path == "/\ufffd\ufffd"
    assert got.user_agent == "agent \ufffd( \ufffd"
    escaped = rb'203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "\xFF"'
    assert record(escaped).user_agent == "\ufffd"


def test_str_and_bytes_give_the_same_record() -> None:
    line = '203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /ü HTTP/1.1" 200 1 "-" "ä"'
    assert record(line) == record(line.encode())


@pytest.mark.parametrize(
    ("request_line", "method", "path", "protocol", "valid"),
    [
        ("-", "", "", "", False),
        (r"\x16\x03\x01\x00\xCA\x01\x00\x00\xC6\x03\x03", "", "", "", False),
        ("GET", "", "", "", False),
        ("GET  HTTP/1.1", "", "", "", False),
        ("GET / HTTQ/1.1", "", "", "", False),
        ("GET / HTTP/2", "GET", "/", "HTTP/2", True),
        ("G\\x22T / HTTP/1.1", "", "", "", False),
        ("GET /", "GET", "/", "", True),
        ("GET /a b HTTP/1.1", "GET", "/a b", "HTTP/1.1", True),
        ("OPTIONS * HTTP/1.1", "OPTIONS", "*", "HTTP/1.1", True),
        ("CONNECT example.com:443 HTTP/1.1", "CONNECT", "example.com:443", "HTTP/1.1", True),
        ("PRI * HTTP/2.0", "PRI", "*", "HTTP/2.0", True),
    ],
)
def test_request_lines(
    request_line: str, method: str, path: str, protocol: str, valid: bool
) -> None:
    line = f'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "{request_line}" 400 157 "-" "-"'
    got = record(line)
    assert (got.method, got.path, got.protocol, got.valid_request) == (
        method,
        path,
        protocol,
        valid,
    )
    assert got.status == 400


def test_tls_handshake_keeps_the_raw_request() -> None:
    line = rb'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x00\xCA" 400 157 "-" "-"'
    assert record(line).request == "\x16\x03\x01\x00\ufffd"


def test_custom_format_with_request_time_and_forwarded_for() -> None:
    line = (
        '10.0.0.5 - - [10/Oct/2000:13:55:36 -0700] "POST /api HTTP/1.1" 201 17 "-" '
        '"curl/8.5.0" 0.153 "203.0.113.7, 10.0.0.1"'
    )
    got = record(line, CUSTOM)
    assert (got.request_time_ms, got.x_forwarded_for) == (153, "203.0.113.7, 10.0.0.1")
    assert record(line.replace("0.153", "12"), CUSTOM).request_time_ms == 12_000
    assert record(line.replace("0.153", "0.0005"), CUSTOM).request_time_ms == 0


def test_split_request_variables_iso_time_and_host() -> None:
    parser = LogParser(
        "$remote_addr [$time_iso8601] $http_host $request_method $request_uri $server_protocol "
        "$status $bytes_sent $upstream_addr ${upstream_response_time}s"
    )
    line = (
        "[2001:db8::5]:443 [2000-10-10T13:55:36-07:00] shop.example.com GET /a?b=1 HTTP/1.1 "
        "200 512 127.0.0.1:8080 0.010, 0.020s"
    )
    got = record(line, parser)
    assert got.remote_addr == "[2001:db8::5]:443"
    assert got.time_ms == OCT_10_2000
    assert (got.host, got.method, got.path, got.protocol) == (
        "shop.example.com",
        "GET",
        "/a?b=1",
        "HTTP/1.1",
    )
    assert got.valid_request
    assert got.request == ""
    assert got.extra == {
        "upstream_addr": "127.0.0.1:8080",
        "upstream_response_time": "0.010, 0.020",
    }
    assert parser.variables[0] == "remote_addr"


def test_request_wins_over_split_variables_which_go_to_extra() -> None:
    parser = LogParser('"$request" $request_method $host $http_host')
    got = record('"GET /x HTTP/1.1" POST a.example b.example', parser)
    assert (got.method, got.host) == ("GET", "a.example")
    assert got.extra == {"request_method": "POST", "http_host": "b.example"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1700000000.123", 1_700_000_000_123),
        ("1700000000", 1_700_000_000_000),
        ("1700000000.1", 1_700_000_000_100),
        ("-", 0),
    ],
)
def test_msec_time(value: str, expected: int) -> None:
    parser = LogParser("$msec $status")
    assert record(f"{value} 200", parser).time_ms == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2000-10-10T20:55:36+00:00", OCT_10_2000),
        ("2000-10-10T20:55:36Z", OCT_10_2000),
        ("2000-10-10T20:55:36.250Z", OCT_10_2000 + 250),
        ("2000-10-10T20:55:36", OCT_10_2000),
        ("2000-10-11T06:25:36+0930", OCT_10_2000),
    ],
)
def test_iso8601_time(value: str, expected: int) -> None:
    assert record(f"{value} 200", LogParser("$time_iso8601 $status")).time_ms == expected


def test_time_local_offsets_and_cache() -> None:
    parser = LogParser("[$time_local] $status")
    east = record("[11/Oct/2000:06:25:36 +0930] 200", parser)
    west = record("[10/Oct/2000:13:55:36 -0700] 200", parser)
    again = record("[10/Oct/2000:13:55:36 -0700] 200", parser)
    lower = record("[10/oct/2000:13:55:36 -0700] 200", parser)
    assert east.time_ms == west.time_ms == again.time_ms == lower.time_ms == OCT_10_2000
    assert record("[-] 200", parser).time_ms == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty"),
        ("\r\n", "empty"),
        ("hello world", "unparseable"),
        ('192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-"', "unparseable"),
        ('192.0.2.1 - - [30/Feb/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
        ('192.0.2.1 - - [10/Foo/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
        ('192.0.2.1 - - [10/Oct/2000:24:00:00 -0700] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
        ('192.0.2.1 - - [10/Oct/2000:13:55:36 -0760] "GET / HTTP/1.1" 200 1 "-" "-"', "bad_time"),
        ('192.0.2.1 - - [31/Dec/9999:23:59:59 -1400] "GET / HTTP/1.1" 200 1 "-" "-"', None),
        ('192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" OK 1 "-" "-"', "bad_status"),
        (
            '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 2000 1 "-" "-"',
            "bad_status",
        ),
        # Arabic-Indic digits are digits to str.isdigit but not to nginx.
        ('192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" ٢٠٠ 1 "-" "-"', "bad_status"),
        ('192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1k "-" "-"', "bad_bytes"),
        ('192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"', None),
    ],
)
def test_rejections(line: str, reason: str | None) -> None:
    result = COMBINED.parse(line)
    if reason is None:
        assert isinstance(result, LogRecord)
    else:
        assert result == Rejected(reason)
        assert reason in REJECT_REASONS


def test_bad_request_time() -> None:
    line = '10.0.0.5 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-" 1,5 "-"'
    assert CUSTOM.parse(line) == Rejected("bad_request_time")


def test_long_lines_are_rejected_before_matching() -> None:
    padding = "a" * (64 * 1024)
    line = f'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /{padding} HTTP/1.1" 200 1 "-" "-"'
    assert COMBINED.parse(line) == Rejected("too_long")
    assert COMBINED.parse(line.encode()) == Rejected("too_long")
    short = LogParser("$http_user_agent", max_line_bytes=100)
    assert short.parse("x" * 101) == Rejected("too_long")
    assert short.parse("é" * 51) == Rejected("too_long")  # 102 bytes
    assert record("é" * 50 + "\r\n", short).user_agent == "é" * 50
    assert record(b"x" * 100 + b"\n", short).user_agent == "x" * 100


def test_lone_surrogates_in_str_are_replaced() -> None:
    agent = record("a\udc80b", LogParser("$http_user_agent")).user_agent
    assert "\ufffd" in agent
    assert agent.replace("\ufffd", "") == "ab"
    agent.encode()  # storable: no surrogate is left


@pytest.mark.parametrize(
    ("log_format", "mentions"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("no variables here", "no $variables"),
        ("$remote_addr $", "offset 13"),
        ("$remote_addr $1abc", "'$1abc'"),
        ("${remote_addr", "'${remote_addr'"),
        ("$remote_addr$remote_user", "$remote_addr and $remote_user are adjacent"),
        ("$status $status", "$status appears twice"),
        ("$Status $status", "$status appears twice"),
    ],
)
def test_bad_format_strings(log_format: str, mentions: str) -> None:
    with pytest.raises(LogFormatError) as caught:
        LogParser(log_format)
    assert mentions in str(caught.value)
    assert isinstance(caught.value, BeaconError)


def test_variable_names_ignore_case_and_may_be_braced() -> None:
    parser = LogParser("${Remote_Addr}:$STATUS")
    got = record("192.0.2.1:404", parser)
    assert (got.remote_addr, got.status) == ("192.0.2.1", 404)


def test_format_line_escapes_as_nginx_does() -> None:
    line = format_line(
        {"remote_addr": "192.0.2.1", "http_user_agent": 'a "b" \\ é\n', "status": "200"},
        '$remote_addr "$http_user_agent" $status $body_bytes_sent',
    )
    assert line == r'192.0.2.1 "a \x22b\x22 \x5C \xC3\xA9\x0A" 200 -'


# --- properties ---------------------------------------------------------------------------------


@settings(database=None, max_examples=300)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for parser in (COMBINED, CUSTOM):
        assert isinstance(parser.parse(data), LogRecord | Rejected)


@settings(database=None, max_examples=300)
@given(st.lists(st.sampled_from(["[", "]", '"', "\\", "x22", "-", " ", "a", "\\x", "0"])))
def test_quote_and_escape_soup_never_raises(pieces: list[str]) -> None:
    line = '192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "' + "".join(pieces) + '" 200 1 "-" "-"'
    assert isinstance(COMBINED.parse(line), LogRecord | Rejected)


@settings(database=None, max_examples=200)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(COMBINED.parse(text), LogRecord | Rejected)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Any text at all, except a lone "-", which is how nginx writes an empty value.
free_text = st.text(max_size=60).filter(lambda value: value != "-")
# Unquoted fields cannot hold the space that separates them; nginx does not escape it either.
word = st.text(max_size=20).filter(lambda value: " " not in value and value != "-")
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def time_local(moment: datetime, zone: timezone) -> str:
    local = moment.astimezone(zone)
    offset = local.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return (
        f"{local.day:02d}/{MONTHS[local.month - 1]}/{local.year:04d}:"
        f"{local:%H:%M:%S} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    )


@settings(database=None, max_examples=300)
@given(
    remote_addr=st.ip_addresses().map(str),
    remote_user=word,
    moment=moments,
    zone=offsets,
    method=st.sampled_from(["GET", "POST", "HEAD", "PROPFIND", "M-SEARCH"]),
    path=st.text(min_size=1, max_size=80),
    protocol=st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]),
    status=st.integers(min_value=100, max_value=599),
    bytes_sent=st.integers(min_value=0, max_value=2**40),
    referer=free_text,
    user_agent=free_text,
    request_time_ms=st.integers(min_value=0, max_value=10**7),
    x_forwarded_for=free_text,
)
def test_well_formed_lines_round_trip(
    remote_addr: str,
    remote_user: str,
    moment: datetime,
    zone: timezone,
    method: str,
    path: str,
    protocol: str,
    status: int,
    bytes_sent: int,
    referer: str,
    user_agent: str,
    request_time_ms: int,
    x_forwarded_for: str,
) -> None:
    fields = {
        "remote_addr": remote_addr,
        "remote_user": remote_user,
        "time_local": time_local(moment, zone),
        "request": f"{method} {path} {protocol}",
        "status": str(status),
        "body_bytes_sent": str(bytes_sent),
        "http_referer": referer,
        "http_user_agent": user_agent,
        "request_time": f"{request_time_ms // 1000}.{request_time_ms % 1000:03d}",
        "http_x_forwarded_for": x_forwarded_for,
    }
    line = format_line(fields, CUSTOM_FORMAT)
    assert "\n" not in line
    assert record(line + "\n", CUSTOM) == LogRecord(
        remote_addr=remote_addr,
        time_ms=int(moment.timestamp()) * 1000,
        method=method,
        path=path,
        protocol=protocol,
        status=status,
        bytes_sent=bytes_sent,
        referer=referer,
        user_agent=user_agent,
        request_time_ms=request_time_ms,
        x_forwarded_for=x_forwarded_for,
        host="",
        request=fields["request"],
        valid_request=True,
        extra={"remote_user": remote_user},
    )


@settings(database=None, max_examples=200)
@given(
    host=word,
    method=st.sampled_from(["GET", "DELETE"]),
    uri=word.filter(bool),
    moment=moments,
    zone=offsets,
    cookie=free_text,
    upstream=free_text,
)
def test_custom_format_round_trips(
    host: str,
    method: str,
    uri: str,
    moment: datetime,
    zone: timezone,
    cookie: str,
    upstream: str,
) -> None:
    # The last variable runs to the end of the line, so it may hold spaces too.
    log_format = (
        '$host $request_method $request_uri [$time_iso8601] "$cookie_session" $upstream_status'
    )
    fields = {
        "host": host,
        "request_method": method,
        "request_uri": uri,
        "time_iso8601": moment.astimezone(zone).isoformat(),
        "cookie_session": cookie,
        "upstream_status": upstream,
    }
    got = record(format_line(fields, log_format), LogParser(log_format))
    assert (got.host, got.method, got.path, got.time_ms) == (
        host,
        method,
        uri,
        int(moment.timestamp()) * 1000,
    )
    assert got.extra == {"cookie_session": cookie, "upstream_status": upstream}


def test_presets_are_the_documented_formats() -> None:
    assert LogParser("combined").log_format == PRESETS["combined"]
    assert LogParser("main").variables[-1] == "http_x_forwarded_for"
