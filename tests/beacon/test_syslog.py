"""Syslog messages as nginx and RFC 5424 senders write them, and RFC 6587 TCP framing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ashiato.beacon.syslog import OctetFramer, SyslogMessage, parse_syslog

NGINX_LINE = (
    b'203.0.113.7 - - [22/Nov/2023:01:30:35 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'
)


def test_nginx_access_log_over_syslog() -> None:
    # nginx: access_log syslog:server=127.0.0.1:5514 combined; facility local7, severity info.
    message = parse_syslog(b"<190>Nov 22 01:30:35 web1 nginx: " + NGINX_LINE)
    assert message == SyslogMessage(
        facility=23,
        severity=6,
        timestamp="Nov 22 01:30:35",
        hostname="web1",
        tag="nginx",
        message=NGINX_LINE.decode(),
    )


def test_rfc3164_space_padded_day_custom_tag_and_trailing_newline() -> None:
    message = parse_syslog(b"<150>Nov  2 01:30:35 web-2.example.com shop_access: x y\n")
    assert message is not None
    assert (message.facility, message.severity) == (18, 6)
    assert (message.timestamp, message.hostname, message.tag, message.message) == (
        "Nov  2 01:30:35",
        "web-2.example.com",
        "shop_access",
        "x y",
    )


def test_rfc3164_tag_with_pid() -> None:
    message = parse_syslog(b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed")
    assert message is not None
    assert (message.facility, message.severity) == (4, 2)
    assert (message.hostname, message.tag, message.message) == (
        "mymachine",
        "su",
        "'su root' failed",
    )


def test_rfc3164_without_hostname_or_header() -> None:
    no_host = parse_syslog(b"<13>Oct 11 22:14:15 nginx: hello: there")
    assert no_host is not None
    assert (no_host.hostname, no_host.tag, no_host.message) == ("", "nginx", "hello: there")
    bare = parse_syslog(b"<13>just some text")
    assert bare == SyslogMessage(1, 5, "", "", "", "just some text")


def test_rfc3164_with_rfc3339_timestamp() -> None:
    message = parse_syslog(b"<14>2023-11-22T01:30:35.123+01:00 web1 nginx: line")
    assert message is not None
    assert (message.timestamp, message.hostname, message.tag, message.message) == (
        "2023-11-22T01:30:35.123+01:00",
        "web1",
        "nginx",
        "line",
    )


def test_rfc5424_with_bom_and_no_structured_data() -> None:
    message = parse_syslog(
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        b"\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8"
    )
    assert message == SyslogMessage(
        facility=4,
        severity=2,
        timestamp="2003-10-11T22:14:15.003Z",
        hostname="mymachine.example.com",
        tag="su",
        message="'su root' failed for lonvick on /dev/pts/8",
    )


def test_rfc5424_with_structured_data() -> None:
    message = parse_syslog(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        b'[examplePriority@32473 class="hi] \\"there\\" \\\\ \\]"] '
        b"\xef\xbb\xbfAn application event log entry..."
    )
    assert message is not None
    assert (message.facility, message.severity, message.tag) == (20, 5, "evntslog")
    assert message.message == "An application event log entry..."


def test_rfc5424_nil_fields_and_no_message() -> None:
    message = parse_syslog(b'<165>1 - - - - - [origin ip="192.0.2.1"]')
    assert message == SyslogMessage(20, 5, "", "", "", "")
    assert parse_syslog(b"<165>1 - - - - - -") == SyslogMessage(20, 5, "", "", "", "")


def test_invalid_utf8_is_replaced() -> None:
    message = parse_syslog(b"<190>Nov 22 01:30:35 web1 nginx: \xff\xfe ok")
    assert message is not None
    assert message.message == "\ufffd\ufffd ok"


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"hello",
        b"<>hello",
        b"<192>Nov 22 01:30:35 web1 nginx: x",
        b"<1000>x",
        b"<13",
        b"<x>y",
        b"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [unterminated",
        b'<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a b="c]',
        b"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a]x",
        b"<165>1 2003-10-11T22:14:15.003Z host app - ID47 garbage",
        b"<165>1 too short",
    ],
)
def test_garbage_gives_none(datagram: bytes) -> None:
    assert parse_syslog(datagram) is None


@settings(database=None, max_examples=500)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert parse_syslog(data) is None or isinstance(parse_syslog(data), SyslogMessage)
    assert parse_syslog(b"<13>" + data) is not None or data[:1].isdigit()
    parse_syslog(b"<165>1 - - - - - " + data)


@settings(database=None, max_examples=300)
@given(
    pri=st.integers(min_value=0, max_value=191),
    hostname=st.from_regex(r"[A-Za-z0-9.\-]{1,30}", fullmatch=True),
    tag=st.from_regex(r"[A-Za-z0-9_\-]{1,32}", fullmatch=True),
    text=st.text(max_size=200).map(lambda value: value.strip("\r\n\x00")),
)
def test_nginx_messages_round_trip(pri: int, hostname: str, tag: str, text: str) -> None:
    datagram = f"<{pri}>Nov 22 01:30:35 {hostname} {tag}: {text}".encode()
    assert parse_syslog(datagram) == SyslogMessage(
        pri >> 3, pri & 7, "Nov 22 01:30:35", hostname, tag, text
    )


# --- OctetFramer --------------------------------------------------------------------------------


def octets(frame: bytes) -> bytes:
    return b"%d %s" % (len(frame), frame)


def test_octet_counting() -> None:
    framer = OctetFramer()
    frames = framer.feed(octets(b"<13>one") + octets(b"<13>two\nwith newline"))
    assert frames == [b"<13>one", b"<13>two\nwith newline"]
    assert framer.buffered == 0


def test_non_transparent_framing_with_lf_and_crlf() -> None:
    framer = OctetFramer()
    assert framer.feed(b"<13>one\n<13>two\r\n\n<13>thr") == [b"<13>one", b"<13>two"]
    assert framer.buffered == len(b"<13>thr")
    assert framer.feed(b"ee\n") == [b"<13>three"]


def test_mixed_framing_fed_one_byte_at_a_time() -> None:
    stream = octets(b"<13>a b") + b"<14>lf frame\n" + octets(b"<15>c\n") + b"\n<16>d\r\n"
    framer = OctetFramer()
    frames: list[bytes] = []
    for byte in stream:
        frames.extend(framer.feed(bytes([byte])))
    assert frames == [b"<13>a b", b"<14>lf frame", b"<15>c\n", b"<16>d"]
    assert framer.oversized == 0


def test_oversized_octet_counted_frame_is_dropped_and_counted() -> None:
    framer = OctetFramer(max_frame=100)
    big = b"<13>" + b"x" * 200
    out: list[bytes] = []
    for chunk in (octets(big)[:50], octets(big)[50:], octets(b"<13>after")):
        out.extend(framer.feed(chunk))
        assert framer.buffered <= 110
    assert out == [b"<13>after"]
    assert framer.oversized == 1


def test_oversized_line_is_dropped_and_counted() -> None:
    framer = OctetFramer(max_frame=100)
    out: list[bytes] = []
    for _ in range(10):
        out.extend(framer.feed(b"<13>" + b"y" * 60))
        assert framer.buffered <= 200
    out.extend(framer.feed(b"tail\n<13>next\n"))
    assert out == [b"<13>next"]
    assert framer.oversized == 1
    # A too-long line that arrives whole is dropped too.
    assert framer.feed(b"<13>" + b"z" * 150 + b"\n<13>ok\n") == [b"<13>ok"]
    assert framer.oversized == 2


def test_too_many_digits_is_not_a_length() -> None:
    framer = OctetFramer()
    assert framer.feed(b"12345678901234 not a length\n") == [b"12345678901234 not a length"]
    assert framer.feed(b"12x3\n") == [b"12x3"]


def test_frame_exactly_at_the_limit_is_kept() -> None:
    framer = OctetFramer(max_frame=10)
    assert framer.feed(octets(b"0123456789") + b"abcdefghij\r\n") == [b"0123456789", b"abcdefghij"]
    assert framer.oversized == 0


@settings(database=None, max_examples=300)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=1, max_value=50), max_size=20))
def test_framer_never_raises_on_arbitrary_bytes(data: bytes, cuts: list[int]) -> None:
    framer = OctetFramer(max_frame=64)
    position = 0
    for size in [*cuts, len(data)]:
        for frame in framer.feed(data[position : position + size]):
            assert len(frame) <= 64
        position += size
        assert framer.buffered <= 64 + 2 + 50 + len(data)


lf_frames = (
    st.binary(min_size=1, max_size=80)
    .map(lambda body: b"<" + body.replace(b"\n", b""))
    .filter(lambda frame: not frame.endswith(b"\r"))
)
counted_frames = st.binary(min_size=1, max_size=80)


@settings(database=None, max_examples=300)
@given(
    st.lists(st.tuples(st.booleans(), st.one_of(lf_frames, counted_frames)), max_size=15),
    st.lists(st.integers(min_value=1, max_value=40), max_size=40),
)
def test_framed_streams_split_anywhere_give_back_their_frames(
    framed: list[tuple[bool, bytes]], cuts: list[int]
) -> None:
    stream = b""
    expected: list[bytes] = []
    for counted, frame in framed:
        if counted or frame[:1] != b"<":
            stream += octets(frame)
        else:
            stream += frame + b"\n"
        expected.append(frame)
    framer = OctetFramer()
    got: list[bytes] = []
    position = 0
    for size in [*cuts, len(stream)]:
        got.extend(framer.feed(stream[position : position + size]))
        position += size
    assert got == expected
    assert framer.buffered == 0
