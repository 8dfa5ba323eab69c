"""Read web-server access-log lines (nginx `log_format`, Apache common/combined) into records.

An operator's format string is compiled once into a single regex, one group per
`$variable`, so a line costs one decode and one regex match; only fields holding an escape
are looked at again. Lines that do not fit come back as a `Rejected` with a short, stable
reason code for a counter; `parse` never raises.

Escapes are undone in every field, because nginx escapes every variable: ``\\xHH`` (nginx
writes ``"``, ``\\``, control and non-ASCII bytes this way) and ``\\"``, ``\\\\``, ``\\n``...
(Apache). The unescaped bytes are then decoded as UTF-8 with invalid sequences replaced.
A lone ``-`` is how both servers write an empty value, so it reads as "" (or 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from types import MappingProxyType
from typing import Final

from ashiato.beacon.errors import BeaconError

__all__ = [
    "PRESETS",
    "REJECT_REASONS",
    "LogFormatError",
    "LogParser",
    "LogRecord",
    "Rejected",
    "format_line",
]

# nginx's built-in `combined`; Apache's combined and common logs have the same shape.
PRESETS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "combined": '$remote_addr - $remote_user [$time_local] "$request" $status '
        '$body_bytes_sent "$http_referer" "$http_user_agent"',
        "common": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
        # The `main` format of the stock nginx.conf.
        "main": '$remote_addr - $remote_user [$time_local] "$request" $status '
        '$body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"',
    }
)

# Every reason `LogParser.parse` may give, so counters can be created up front.
REJECT_REASONS: Final = (
    "empty",
    "too_long",
    "unparseable",
    "bad_time",
    "bad_status",
    "bad_bytes",
    "bad_request_time",
)

MAX_LINE_BYTES: Final = 64 * 1024


class LogFormatError(BeaconError):
    """The operator's log format string cannot be compiled; the message says which part."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One access-log line. Absent or ``-`` fields are "" or 0.

    `method`, `path` and `protocol` come from ``$request`` (or ``$request_method``,
    ``$request_uri`` and ``$server_protocol``). A request line that is not HTTP, such as
    ``-`` or the TLS handshake of a client speaking HTTPS to a plain port, still gives a
    record, with those three "" and `valid_request` False; `request` keeps the raw line.
    """

    remote_addr: str
    time_ms: int  # UTC epoch milliseconds; 0 if the format has no time
    method: str
    path: str  # the request target as sent
    protocol: str
    status: int
    bytes_sent: int
    referer: str
    user_agent: str
    request_time_ms: int
    x_forwarded_for: str
    host: str
    request: str  # the whole request line, unescaped; "" without `$request`
    valid_request: bool  # the request line (or method and URI) looked like HTTP
    extra: Mapping[str, str] = field(hash=False)  # any other $variables, by name


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that was not read; `reason` is one of `REJECT_REASONS`."""

    reason: str


_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_REJECTED: Final = {reason: Rejected(reason) for reason in REJECT_REASONS}

# Which variables feed which record field; the first one present in the format wins and the
# others are kept in `extra`.
_ROLES: Final = {
    "remote_addr": ("remote_addr",),
    "time": ("time_local", "time_iso8601", "msec"),
    "request": ("request",),
    "method": ("request_method",),
    "path": ("request_uri",),
    "protocol": ("server_protocol",),
    "status": ("status",),
    "bytes_sent": ("body_bytes_sent", "bytes_sent"),
    "referer": ("http_referer",),
    "user_agent": ("http_user_agent",),
    "request_time": ("request_time",),
    "x_forwarded_for": ("http_x_forwarded_for",),
    "host": ("host", "http_host"),
}

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_ESCAPE = re.compile(rb"""\\(x[0-9A-Fa-f]{2}|[\\"'nrtbfv])""")
_SIMPLE_ESCAPES: Final = {
    b"\\": b"\\",
    b'"': b'"',
    b"'": b"'",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"b": b"\b",
    b"f": b"\f",
    b"v": b"\v",
}
# RFC 9110 token characters; a method is a token.
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PROTOCOL = re.compile(r"HTTP/[0-9](?:\.[0-9])?")
_TIME_LOCAL = re.compile(
    r"([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r" ([+-])([0-9]{2})([0-9]{2})"
)
_TIME_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_SECONDS = re.compile(r"([0-9]{1,15})(?:\.([0-9]+))?")
_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


class LogParser:
    """Reads lines written with one log format, compiled once at construction."""

    def __init__(self, log_format: str, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        """Compile `log_format`: a preset name (see `PRESETS`) or an nginx format string.

        Raises LogFormatError naming the offending part if the format cannot be read back.
        """
        self.log_format: Final = PRESETS.get(log_format, log_format)
        segments, tail = _tokenize(self.log_format)
        self.variables: Final = tuple(name for _, name in segments)
        self._max_line_bytes = max_line_bytes
        self._regex = _compile(segments, tail)

        position = {name: index for index, name in enumerate(self.variables)}
        used: dict[str, str] = {}  # variable -> role
        for role, candidates in _ROLES.items():
            present = [name for name in candidates if name in position]
            if present:
                used[present[0]] = role
        if "request" in used.values():
            # The request line gives method, URI and protocol; the separate variables are extra.
            used = {name: role for name, role in used.items() if role not in _SPLIT_ROLES}
        # Index -1 is a "" appended to every match, standing in for an absent variable.
        role_index = {role: position[name] for name, role in used.items()}
        self._pick = itemgetter(*(role_index.get(role, -1) for role in _ROLES))
        self._has_request = "request" in role_index
        self._has_split_request = not self._has_request and "method" in role_index
        self._extra = tuple((name, i) for name, i in position.items() if name not in used)
        time_variable = next((name for name, role in used.items() if role == "time"), None)
        self._read_time = _TIME_READERS.get(time_variable or "", _no_time)
        self._last_time = ("", 0)

    def parse(self, line: bytes | str) -> LogRecord | Rejected:
        """Read one line (a trailing LF or CRLF is ignored); never raises."""
        if len(line) > self._max_line_bytes + 2:
            return _REJECTED["too_long"]
        if isinstance(line, str) and line.isascii():
            text = line.removesuffix("\n").removesuffix("\r")
            if len(text) > self._max_line_bytes:
                return _REJECTED["too_long"]
        else:
            if isinstance(line, str):
                # Lone surrogates become U+FFFD, as invalid UTF-8 in bytes does.
                line = line.encode("utf-8", "surrogatepass")
            line = line.removesuffix(b"\n").removesuffix(b"\r")
            if len(line) > self._max_line_bytes:
                return _REJECTED["too_long"]
            text = line.decode("utf-8", "replace")
        if not text:
            return _REJECTED["empty"]
        match = self._regex.fullmatch(text)
        if match is None:
            return _REJECTED["unparseable"]
        values = [
            value if value != "-" and "\\" not in value else _unescape(value)
            for value in match.groups()
        ]
        values.append("")
        (
            remote_addr,
            time_text,
            request,
            method,
            path,
            protocol,
            status_text,
            bytes_text,
            referer,
            user_agent,
            request_time_text,
            x_forwarded_for,
            host,
        ) = self._pick(values)

        time_ms = self._time_ms(time_text)
        if time_ms is None:
            return _REJECTED["bad_time"]
        status = _integer(status_text, 3)
        if status is None:
            return _REJECTED["bad_status"]
        bytes_sent = _integer(bytes_text, 20)
        if bytes_sent is None:
            return _REJECTED["bad_bytes"]
        request_time_ms = _milliseconds(request_time_text)
        if request_time_ms is None:
            return _REJECTED["bad_request_time"]

        if self._has_request:
            method, path, protocol, valid = _split_request(request)
        elif self._has_split_request:
            valid = bool(_METHOD.fullmatch(method)) and bool(path)
        else:
            valid = False
        extra = (
            MappingProxyType({name: values[i] for name, i in self._extra})
            if self._extra
            else _EMPTY
        )
        return LogRecord(
            remote_addr=remote_addr,
            time_ms=time_ms,
            method=method,
            path=path,
            protocol=protocol,
            status=status,
            bytes_sent=bytes_sent,
            referer=referer,
            user_agent=user_agent,
            request_time_ms=request_time_ms,
            x_forwarded_for=x_forwarded_for,
            host=host,
            request=request,
            valid_request=valid,
            extra=extra,
        )

    def _time_ms(self, text: str) -> int | None:
        # Consecutive lines mostly share their second, so one remembered answer saves the work.
        last_text, last_ms = self._last_time
        if text == last_text:
            return last_ms
        if not text:
            return 0
        ms = self._read_time(text)
        if ms is not None:
            self._last_time = (text, ms)
        return ms


def format_line(record_fields: Mapping[str, str], log_format: str) -> str:
    """Write a line as nginx would, for tests: values escaped, absent or empty ones as ``-``.

    `record_fields` maps variable names (without ``$``) to raw values.
    """
    segments, tail = _tokenize(PRESETS.get(log_format, log_format))
    parts: list[str] = []
    for literal, name in segments:
        value = record_fields.get(name, "")
        parts.append(literal)
        parts.append(_escape(value) if value else "-")
    parts.append(tail)
    return "".join(parts)


_SPLIT_ROLES: Final = frozenset({"method", "path", "protocol"})


def _tokenize(log_format: str) -> tuple[list[tuple[str, str]], str]:
    """Split a format into (literal before, variable) pairs and the literal after the last."""
    if not isinstance(log_format, str) or not log_format.strip():
        raise LogFormatError("the log format is empty")
    segments: list[tuple[str, str]] = []
    seen: set[str] = set()
    position = 0
    while (dollar := log_format.find("$", position)) != -1:
        match = _VARIABLE.match(log_format, dollar)
        if match is None:
            raise LogFormatError(
                f"bad variable at offset {dollar} of the log format: "
                f"{log_format[dollar : dollar + 20]!r}; expected $name or ${{name}}"
            )
        name = (match.group(1) or match.group(2)).lower()  # nginx ignores case in names
        literal = log_format[position:dollar]
        if segments and not literal:
            raise LogFormatError(
                f"${segments[-1][1]} and ${name} are adjacent in the log format; "
                "a separator between them is needed to tell them apart"
            )
        if name in seen:
            raise LogFormatError(f"${name} appears twice in the log format")
        seen.add(name)
        segments.append((literal, name))
        position = match.end()
    if not segments:
        raise LogFormatError(f"the log format has no $variables: {log_format!r}")
    return segments, log_format[position:]


def _compile(segments: list[tuple[str, str]], tail: str) -> re.Pattern[str]:
    """One regex for the whole line: a group per variable, running up to the next literal."""
    literals = [literal for literal, _ in segments[1:]] + [tail]
    pattern = [re.escape(segments[0][0])]
    for (_, name), following in zip(segments, literals, strict=True):
        if following:
            # Anything but the next literal's first character; a backslash escapes one.
            stop = re.escape(following[0])
            body = rf"[^{stop}\\]*(?:\\.[^{stop}\\]*)*"
        else:
            body = ".*"
        pattern.append(f"(?P<{name}>{body})")
        pattern.append(re.escape(following))
    try:
        return re.compile("".join(pattern), re.DOTALL)
    except re.error as exc:  # pragma: no cover - literals are escaped and names checked
        raise LogFormatError(f"the log format cannot be compiled: {exc}") from exc


def _unescape(value: str) -> str:
    """Undo the escapes in one field; ``-`` is "". The slow path, for few fields."""
    if value == "-":
        return ""
    # \xHH escapes are bytes of UTF-8, so the field is rebuilt as bytes and decoded again.
    raw = _ESCAPE.sub(_unescape_one, value.encode("utf-8", "surrogatepass"))
    return raw.decode("utf-8", "replace")


def _unescape_one(match: re.Match[bytes]) -> bytes:
    escape = match.group(1)
    if len(escape) == 3:
        return bytes((int(escape[1:], 16),))
    return _SIMPLE_ESCAPES[escape]


def _escape(value: str) -> str:
    """Escape as nginx's default `escape=default` does: ``"``, ``\\``, control, non-ASCII."""
    out: list[str] = []
    for char in value:
        if char in '"\\' or not " " <= char < "\x7f":
            out.extend(f"\\x{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        else:
            out.append(char)
    return "".join(out)


def _split_request(request: str) -> tuple[str, str, str, bool]:
    """Method, target and protocol of a request line, and whether it looked like HTTP."""
    parts = request.split(" ")
    if len(parts) >= 3 and _PROTOCOL.fullmatch(parts[-1]) and _METHOD.fullmatch(parts[0]):
        # A target with raw spaces is broken but seen; keep it whole.
        target = " ".join(parts[1:-1])
        if target:
            return parts[0], target, parts[-1], True
    elif len(parts) == 2 and parts[1] and _METHOD.fullmatch(parts[0]):
        return parts[0], parts[1], "", True  # HTTP/0.9
    return "", "", "", False


def _integer(text: str, max_digits: int) -> int | None:
    if not text:
        return 0
    if len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _milliseconds(text: str) -> int | None:
    """Seconds with a fraction (``0.123``) as whole milliseconds."""
    if not text:
        return 0
    match = _SECONDS.fullmatch(text)
    if match is None:
        return None
    seconds, fraction = match.groups()
    return int(seconds) * 1000 + int((fraction or "0")[:3].ljust(3, "0"))


def _time_local_ms(text: str) -> int | None:
    """``10/Oct/2000:13:55:36 -0700`` as UTC epoch milliseconds."""
    match = _TIME_LOCAL.fullmatch(text)
    if match is None:
        return None
    day, month_name, year, hour, minute, second, sign, off_hours, off_minutes = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None or int(off_hours) > 23 or int(off_minutes) > 59:
        return None
    try:
        local = datetime(
            int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    offset_ms = (int(off_hours) * 60 + int(off_minutes)) * 60_000
    return (local - _EPOCH) // _MS - (offset_ms if sign == "+" else -offset_ms)


def _time_iso8601_ms(text: str) -> int | None:
    """``2000-10-10T13:55:36-07:00`` as UTC epoch milliseconds; no offset means UTC."""
    if _TIME_ISO.fullmatch(text) is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS


def _no_time(text: str) -> int | None:  # pragma: no cover - only reached with no time variable
    return 0


_TIME_READERS: Final[Mapping[str, Callable[[str], int | None]]] = {
    "time_local": _time_local_ms,
    "time_iso8601": _time_iso8601_ms,
    "msec": _milliseconds,
}
