"""Unwrap syslog messages, as nginx's ``access_log syslog:server=...`` sends them.

`parse_syslog` reads one message (a UDP datagram or a TCP frame) in RFC 3164 or RFC 5424
form; `OctetFramer` cuts a TCP byte stream into frames as RFC 6587 describes. Neither raises
on bad input: garbage gives None, an oversized frame is dropped and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_FRAME_BYTES", "OctetFramer", "SyslogMessage", "parse_syslog"]

MAX_FRAME_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    """One syslog message. Header fields that are absent or NILVALUE (``-``) are ""."""

    facility: int
    severity: int
    timestamp: str  # as sent: ``Nov 22 01:30:35`` (RFC 3164) or RFC 3339 (RFC 5424)
    hostname: str
    tag: str  # the RFC 3164 TAG without any ``[pid]``, or the RFC 5424 APP-NAME
    message: str


# PRI is at most 191 (facility 23, severity 7) and so at most three digits.
_PRI = re.compile(rb"<([0-9]{1,3})>")
_RFC5424_HEADER = re.compile(
    rb"([1-9][0-9]?) (\S{1,64}) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) "
)
# `Nov 22 01:30:35`, the day padded with a space below 10 as RFC 3164 asks.
_BSD_TIMESTAMP = re.compile(
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} "
)
# Some senders put an RFC 3339 time into an otherwise RFC 3164 message.
_ISO_TIMESTAMP = re.compile(
    rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    rb"(?:Z|[+-][0-9]{2}:[0-9]{2}) "
)
# TAG, an optional [pid], a colon and the one space after it.
_TAG = re.compile(rb"([^\s:\[\]]{1,48})(?:\[[^\]\s]{0,32}\])?: ?")
_BOM: Final = b"\xef\xbb\xbf"


def parse_syslog(datagram: bytes) -> SyslogMessage | None:
    """Read one RFC 5424 or RFC 3164 message; None if it does not start with a valid PRI."""
    data = datagram.rstrip(b"\r\n\x00")
    pri_match = _PRI.match(data)
    if pri_match is None:
        return None
    pri = int(pri_match.group(1))
    if pri > 191:
        return None
    facility, severity = pri >> 3, pri & 7
    body = data[pri_match.end() :]
    header = _RFC5424_HEADER.match(body)
    if header is not None:
        return _rfc5424(facility, severity, header, body)
    if body[:1].isdigit() and body[1:2] == b" ":
        return None  # a version number, then not an RFC 5424 header
    return _rfc3164(facility, severity, body)


def _rfc5424(
    facility: int, severity: int, header: re.Match[bytes], body: bytes
) -> SyslogMessage | None:
    _version, timestamp, hostname, app_name, _procid, _msgid = (
        _nil(field) for field in header.groups()
    )
    end = _structured_data_end(body, header.end())
    if end is None:
        return None
    if end < len(body):
        if body[end : end + 1] != b" ":
            return None
        end += 1
    message = body[end:]
    if message.startswith(_BOM):
        message = message[len(_BOM) :]
    return SyslogMessage(
        facility=facility,
        severity=severity,
        timestamp=timestamp,
        hostname=hostname,
        tag=app_name,
        message=message.decode("utf-8", "replace"),
    )


def _structured_data_end(body: bytes, start: int) -> int | None:
    """Where STRUCTURED-DATA starting at `start` ends, or None if it is malformed."""
    if body[start : start + 1] == b"-":
        return start + 1
    position = start
    if body[position : position + 1] != b"[":
        return None
    while body[position : position + 1] == b"[":
        position += 1
        quoted = False
        while True:
            if position >= len(body):
                return None
            char = body[position]
            position += 1
            if quoted:
                if char == 0x5C:  # a backslash escapes `"`, `\` and `]` inside a value
                    position += 1
                elif char == 0x22:
                    quoted = False
            elif char == 0x22:
                quoted = True
            elif char == 0x5D:
                break
    return position


def _rfc3164(facility: int, severity: int, body: bytes) -> SyslogMessage:
    """Read TIMESTAMP HOSTNAME TAG: MSG, taking whatever of the header is there."""
    timestamp = hostname = tag = ""
    stamp = _BSD_TIMESTAMP.match(body) or _ISO_TIMESTAMP.match(body)
    if stamp is not None:
        timestamp = body[: stamp.end() - 1].decode("ascii")
        body = body[stamp.end() :]
        host, space, rest = body.partition(b" ")
        if space and host and not host.endswith(b":") and _TAG.match(rest):
            hostname = host.decode("utf-8", "replace")
            body = rest
    tag_match = _TAG.match(body)
    if tag_match is not None:
        tag = tag_match.group(1).decode("utf-8", "replace")
        body = body[tag_match.end() :]
    return SyslogMessage(
        facility=facility,
        severity=severity,
        timestamp=timestamp,
        hostname=hostname,
        tag=tag,
        message=body.decode("utf-8", "replace"),
    )


def _nil(field: bytes) -> str:
    return "" if field == b"-" else field.decode("utf-8", "replace")


class OctetFramer:
    """Cut a syslog TCP stream into frames (RFC 6587), one framer per connection.

    Each frame's method is detected on its own: a leading non-zero digit means octet
    counting (``123 <...>``), anything else is read up to LF (non-transparent framing; a CR
    before the LF is dropped). Empty lines between frames are skipped. A frame longer than
    `max_frame` is dropped and counted in `oversized`, so the buffer never holds more than
    about `max_frame` bytes.
    """

    # Enough digits for any length worth skipping; more means this is not a length.
    _MAX_LENGTH_DIGITS: Final = 9

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        """Start with an empty buffer; frames longer than `max_frame` bytes are dropped."""
        self.max_frame: Final = max_frame
        self.oversized = 0
        self._buffer = bytearray()
        self._skip_bytes = 0  # left of an oversized octet-counted frame
        self._skip_line = False  # inside an oversized LF-terminated frame

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of their frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frames now complete, in order."""
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        position = 0
        while position < len(buffer):
            if self._skip_bytes:
                taken = min(self._skip_bytes, len(buffer) - position)
                self._skip_bytes -= taken
                position += taken
                continue
            if self._skip_line:
                newline = buffer.find(b"\n", position)
                if newline == -1:
                    position = len(buffer)
                    break
                self._skip_line = False
                position = newline + 1
                continue
            first = buffer[position]
            if first in b"\r\n\x00":
                position += 1
            elif 0x31 <= first <= 0x39:  # 1-9
                done = self._octet_counted(buffer, position, frames)
                if done is None:
                    break
                position = done
            else:
                done = self._line(buffer, position, frames)
                if done is None:
                    break
                position = done
        del buffer[:position]
        return frames

    def _octet_counted(self, buffer: bytearray, start: int, frames: list[bytes]) -> int | None:
        """Take one ``LEN SP MSG`` frame; the position after it, or None to wait for data."""
        end = min(len(buffer), start + self._MAX_LENGTH_DIGITS + 1)
        position = start
        while position < end and 0x30 <= buffer[position] <= 0x39:
            position += 1
        if position == end and end < start + self._MAX_LENGTH_DIGITS + 1:
            return None  # the length may go on in the next packet
        if position == end or buffer[position] != 0x20:
            # Not a length after all: read it as an LF-terminated frame.
            return self._line(buffer, start, frames)
        length = int(buffer[start:position])
        body = position + 1
        if length > self.max_frame:
            self.oversized += 1
            self._skip_bytes = length
            return body
        if len(buffer) - body < length:
            return None
        frames.append(bytes(buffer[body : body + length]))
        return body + length

    def _line(self, buffer: bytearray, start: int, frames: list[bytes]) -> int | None:
        """Take one LF-terminated frame; the position after it, or None to wait for data."""
        newline = buffer.find(b"\n", start)
        if newline == -1:
            if len(buffer) - start > self.max_frame + 1:
                self.oversized += 1
                self._skip_line = True
                return len(buffer)
            return None
        end = newline - 1 if newline > start and buffer[newline - 1] == 0x0D else newline
        if end - start > self.max_frame:
            self.oversized += 1
        else:
            frames.append(bytes(buffer[start:end]))
        return newline + 1
