"""Keep personal data out of the process log, whatever a library puts in a message.

ashiato itself logs no addresses, URLs or identifiers, but error texts from ClickHouse, the
driver or aiohttp can quote the values they choke on. A filter on the log handler masks what
looks like an IP address, an e-mail address, a URL's query, or a quoted value before anything
is written.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"), "<ip>"),
    (re.compile(r"\?[^\s'\"]*"), "?<query>"),
    (re.compile(r"'(?:\\.|[^'\\]){1,2000}'"), "'<value>'"),
)


_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def _ipv6(match: re.Match[str]) -> str:
    # "::" or three colons make an address; a time of day (10:42:01) has two and no "::".
    text = match.group(0)
    return "<ip>" if "::" in text or text.count(":") >= 3 else text


def redact(text: str) -> str:
    """`text` with anything that may be personal data masked."""
    for pattern, mask in _PATTERNS:
        text = pattern.sub(mask, text)
    return _IPV6.sub(_ipv6, text)


class RedactingFilter(logging.Filter):
    """Masks personal data in a record's message and traceback before it is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def configure(level: str) -> None:
    """Log to stderr at `level`, through the redacting filter."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # The driver logs each failed connect with a traceback; ashiato reports it once itself.
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)
