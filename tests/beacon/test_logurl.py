"""Stored URLs of access-log requests: whole when the operator or the line says where they went."""

from __future__ import annotations

import pytest

from ashiato.beacon.accesslog import LogParser, LogRecord
from ashiato.beacon.errors import BeaconError
from ashiato.beacon.logurl import NO_BASE, BaseUrl, BaseUrlError, parse_base_url, request_url

COMBINED = LogParser("combined")
WITH_HOST = LogParser('$remote_addr [$time_local] $host "$request" $status')
WITH_SCHEME = LogParser('$remote_addr [$time_local] $scheme://$host "$request" $status')
WITH_HTTPS = LogParser('$remote_addr [$time_local] $http_host "$https" "$request" $status')
TIME = "10/Oct/2024:13:55:36 +0000"


def record(parser: LogParser, line: str) -> LogRecord:
    parsed = parser.parse(line)
    assert isinstance(parsed, LogRecord), parsed
    return parsed


def combined(target: str) -> LogRecord:
    return record(COMBINED, f'192.0.2.1 - - [{TIME}] "GET {target} HTTP/1.1" 200 5 "-" "ua"')


def test_the_operators_base_url_is_put_before_the_path() -> None:
    base = parse_base_url("https://shop.example")
    assert request_url(combined("/path?q"), base) == "https://shop.example/path?q"
    assert request_url(combined("/"), parse_base_url("https://Shop.Example/")) == (
        "https://shop.example/"
    )


def test_without_a_base_url_or_a_logged_host_the_path_is_stored_as_logged() -> None:
    assert request_url(combined("/a?x=1")) == "/a?x=1"


def test_the_logged_host_and_scheme_give_the_whole_url() -> None:
    line = f'192.0.2.1 [{TIME}] https://shop.example "GET /a?x=1 HTTP/1.1" 200'
    assert request_url(record(WITH_SCHEME, line)) == "https://shop.example/a?x=1"


@pytest.mark.parametrize(
    ("https", "expected"),
    [("on", "https://shop.example:8443/a"), ("-", "http://shop.example:8443/a")],
)
def test_https_on_or_empty_says_the_scheme(https: str, expected: str) -> None:
    line = f'192.0.2.1 [{TIME}] shop.example:8443 "{https}" "GET /a HTTP/1.1" 200'
    assert request_url(record(WITH_HTTPS, line)) == expected


def test_a_logged_host_without_a_scheme_gives_a_scheme_relative_url() -> None:
    line = f'192.0.2.1 [{TIME}] Shop.Example "GET /a HTTP/1.1" 200'
    assert request_url(record(WITH_HOST, line)) == "//shop.example/a"


def test_a_bare_host_given_takes_the_scheme_the_line_records() -> None:
    line = f'192.0.2.1 [{TIME}] http://internal.lan "GET /a HTTP/1.1" 200'
    got = record(WITH_SCHEME, line)
    assert request_url(got, parse_base_url("shop.example")) == "http://shop.example/a"
    assert request_url(combined("/a"), parse_base_url("shop.example")) == "//shop.example/a"


def test_the_operators_base_url_wins_over_the_logged_one() -> None:
    # Behind a TLS proxy nginx logs its own upstream name and plain http.
    line = f'192.0.2.1 [{TIME}] http://backend.internal "GET /a HTTP/1.1" 200'
    got = record(WITH_SCHEME, line)
    assert request_url(got, parse_base_url("https://shop.example")) == "https://shop.example/a"


def test_the_default_port_is_left_out_as_browsers_do() -> None:
    assert request_url(combined("/a"), parse_base_url("https://shop.example:443")) == (
        "https://shop.example/a"
    )
    assert request_url(combined("/a"), parse_base_url("http://[2001:db8::1]:80")) == (
        "http://[2001:db8::1]/a"
    )
    assert request_url(combined("/a"), parse_base_url("http://shop.example:8080")) == (
        "http://shop.example:8080/a"
    )


@pytest.mark.parametrize(
    "target",
    ["http://elsewhere.example/x", "*", "elsewhere.example:443"],
)
def test_targets_that_are_not_paths_are_kept_as_sent(target: str) -> None:
    base = parse_base_url("https://shop.example")
    assert request_url(combined(target), base) == target


def test_a_line_that_was_not_http_has_no_url() -> None:
    got = record(COMBINED, f'192.0.2.1 - - [{TIME}] "\\x16\\x03\\x01" 400 0 "-" "-"')
    assert request_url(got, parse_base_url("https://shop.example")) == ""


@pytest.mark.parametrize(
    "host",
    ["evil.example/x", "a@b.example", "bad host", "shop.example:99999999", "ex\\x0Aample", "-"],
)
def test_a_logged_host_that_is_no_host_is_not_used(host: str) -> None:
    parser = LogParser('$remote_addr [$time_local] $scheme "$http_host" "$request" $status')
    line = f'192.0.2.1 [{TIME}] https "{host}" "GET /a HTTP/1.1" 200'
    assert request_url(record(parser, line)) == "/a"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", NO_BASE),
        ("  ", NO_BASE),
        ("https://shop.example", BaseUrl("https", "shop.example")),
        ("HTTP://SHOP.example:8080/", BaseUrl("http", "shop.example:8080")),
        ("shop.example", BaseUrl("", "shop.example")),
        ("//shop.example", BaseUrl("", "shop.example")),
    ],
)
def test_base_urls_that_are_read(text: str, expected: BaseUrl) -> None:
    assert parse_base_url(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ftp://shop.example", "http or https"),
        ("https://user:pw@shop.example", "no user"),
        ("https://shop.example/shop", "only a scheme and a host"),
        ("https://shop.example?x=1", "only a scheme and a host"),
        ("https://shop.example:http", "not a URL"),
        ("https://", "not a host name"),
        ("https://sh op.example", "not a host name"),
    ],
)
def test_base_urls_that_are_refused_say_why(text: str, says: str) -> None:
    with pytest.raises(BaseUrlError, match=says) as caught:
        parse_base_url(text)
    assert isinstance(caught.value, BeaconError)
