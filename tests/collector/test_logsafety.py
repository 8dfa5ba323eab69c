"""Personal data never reaches the process log."""

from __future__ import annotations

import contextlib
import logging
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ashiato.collector.logsafety import RedactingFilter, redact
from tests.collector.test_cli import Served


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 203.0.113.7", "from <ip>"),
        ("peer 2001:db8::17 and ::1", "peer <ip> and <ip>"),
        ("at /b.gif?s=x&u=https://a.jp/p", "at /b.gif?<query>"),
        ("Cannot parse input: 'ann@example.com'", "Cannot parse input: '<value>'"),
        ("mail ann@example.com", "mail <email>"),
        ("took 10:42:01, version 18.16.1, code 53", "took 10:42:01, version 18.16.1, code 53"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_also_masks_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "peer %s", ("198.51.100.2",), None)
    try:
        raise ValueError("bad value 'secret-cookie' from 198.51.100.2")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "peer <ip>"
    assert "198.51.100.2" not in (record.exc_text or "")
    assert "secret-cookie" not in (record.exc_text or "")


def test_a_running_server_logs_no_personal_data(tmp_path: Path) -> None:
    served = Served(tmp_path / "var", ["--log-level", "debug", "--trusted-proxies", "127.0.0.1/32"])
    try:
        headers = {
            "X-Forwarded-For": "203.0.113.99",
            "User-Agent": "secret-agent/1.0",
            "Referer": "https://private.example/account?user=ann@example.com",
        }
        for path in (
            "/b.gif?s=shop&u=https://private.example/me",
            "/o/forged-token.gif",
            "/c/forged",
            "/b.gif?s=%FF%FE&e=%3Cscript%3E",
        ):
            request = urllib.request.Request(served.url + path, headers=headers)
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request).close()
        bad = urllib.request.Request(served.url + "/b", data=b"{not json", headers=headers)
        try:
            urllib.request.urlopen(bad)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
    finally:
        output = served.stop()
    for secret in ("203.0.113", "private.example", "secret-agent", "ann@example.com", "forged"):
        assert secret not in output
