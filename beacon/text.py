"""What text a hit may store: ids and URLs are refused when dirty, header text is cleaned.

Refused (`InvalidInput`, reason ``bad_text``) in ids (site, event name, campaign) and URLs (the
page, the referrer, a click's target): control characters (NUL and the rest of C0, DEL, C1),
U+FFFD and lone surrogates. A browser or the tracker never sends them there: URLs are
percent-encoded and `encodeURIComponent` writes valid UTF-8. U+FFFD is what a decoder puts where
bytes were not UTF-8 (``%FF`` in a query decodes to it), so a value holding one is not what the
page had. Cleaning would store a guess under the site's name, and an id that differs from the
real one by an invisible character splits every report grouped by it; refusing keeps the stored
data true, and the refusal is counted.

Cleaned in text taken from request headers and the reported language (user agent,
Accept-Language, ``l``): bytes that were not UTF-8 (which aiohttp hands over as surrogate
escapes) become U+FFFD and control characters spaces. That text describes the client
rather than naming anything, odd bytes there come from real if unusual clients (old bots send
Latin-1 user agents), and losing their page view would be worse than a replacement character.

Either way no lone surrogate reaches the encoder, where one would fail the row.
"""

from __future__ import annotations

import re

from ashiato.beacon.errors import InvalidInput

_DIRTY = re.compile("[\x00-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
# The ids and URLs of a hit (`pipeline.Hit` fields) that are refused when dirty.
CHECKED_FIELDS = ("site", "name", "campaign", "url", "referrer", "target_url")


def dirt(value: str) -> str:
    """What makes `value` unfit for an id or a URL, or "" when nothing does."""
    found = _DIRTY.search(value)
    if found is None:
        return ""
    return f"{_describe(found.group())} at position {found.start()}"


def check_clean(value: str, field: str) -> str:
    """`value` unchanged if it holds no control character, U+FFFD or lone surrogate."""
    problem = dirt(value)
    if problem:
        raise InvalidInput(f"{field} holds {problem}", "bad_text")
    return value


def clean(value: str) -> str:
    """`value` with undecodable bytes as U+FFFD and each run of control characters a space."""
    if _DIRTY.search(value) is None:
        return value
    return _CONTROLS.sub(" ", _SURROGATE.sub("\ufffd", value))


def _describe(char: str) -> str:
    if char == "\ufffd":
        return "U+FFFD (bytes that were not UTF-8)"
    if "\ud800" <= char <= "\udfff":
        return f"a lone surrogate (U+{ord(char):04X})"
    return f"a control character (U+{ord(char):04X})"
