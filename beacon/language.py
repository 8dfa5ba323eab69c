"""The visitor's preferred language from an Accept-Language header."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# Browsers send a few hundred bytes at most; a longer header is not worth parsing in full.
_MAX_HEADER_LENGTH = 1024
_MAX_ENTRIES = 32
_RANGE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def primary_language(accept_language: str | None) -> str:
    """The highest-weighted language as lowercase ``language`` or ``language-region``.

    ``ja-JP`` gives ``ja-jp``, ``de`` gives ``de``, ``zh-Hant-TW`` gives ``zh-tw`` and
    ``sr-Latn`` gives ``sr``: the script, variants and extensions are dropped so the value
    has few distinct spellings and never carries fingerprinting detail. Entries with
    ``q=0``, the ``*`` wildcard and malformed entries are skipped; ties go to the entry
    listed first. Returns "" when nothing usable is left.
    """
    best = ""
    best_weight = 0.0
    for language, weight in _entries(accept_language):
        if weight > best_weight:
            best, best_weight = language, weight
    return best


def preferred_language(accept_language: str | None, offered: Iterable[str]) -> str | None:
    """Of the `offered` languages (primary subtags like ``ja``), the one the header ranks
    highest; ties go to the entry listed first. None when the header names none of them.

    ``fr, ja;q=0.5, en;q=0.3`` offered ``en`` and ``ja`` gives ``ja``; ``en-GB`` gives ``en``.
    """
    choices = set(offered)
    best: str | None = None
    best_weight = 0.0
    for language, weight in _entries(accept_language):
        primary = language.partition("-")[0]
        if primary in choices and weight > best_weight:
            best, best_weight = primary, weight
    return best


def _entries(accept_language: str | None) -> Iterator[tuple[str, float]]:
    """Each usable entry of the header as (``language[-region]``, weight above 0)."""
    if not isinstance(accept_language, str):
        return
    header = accept_language
    if len(header) > _MAX_HEADER_LENGTH:
        # Cut at a comma so the last entry kept is whole rather than a truncated tag.
        header = header[:_MAX_HEADER_LENGTH].rpartition(",")[0]
    for entry in header.split(",")[:_MAX_ENTRIES]:
        tag, *params = entry.split(";")
        weight = _weight(params)
        language = _language(tag.strip())
        if language and weight > 0:
            yield language, weight


def _weight(params: list[str]) -> float:
    """The entry's q value, or 0 (skip it) if a parameter is malformed."""
    weight = 1.0
    for param in params:
        name, equals, value = param.partition("=")
        if name.strip().lower() != "q" or not equals:
            return 0.0
        value = value.strip()
        if not _QVALUE.fullmatch(value):
            return 0.0
        weight = float(value)
    return weight


def _language(tag: str) -> str:
    """Reduce a language range to ``language[-region]``, or "" if it is not a language."""
    if not _RANGE.fullmatch(tag):
        return ""
    primary, *subtags = tag.lower().split("-")
    # Two or three letters is ISO 639; "*", "i-" and "x-" private tags are not languages.
    if not 2 <= len(primary) <= 3:
        return ""
    for subtag in subtags:
        if (len(subtag) == 2 and subtag.isalpha()) or (len(subtag) == 3 and subtag.isdigit()):
            return f"{primary}-{subtag}"
        # Extended language (3 letters) and script (4 letters) may come before the region.
        if not (len(subtag) in (3, 4) and subtag.isalpha()):
            break
    return primary
