"""The sendBeacon/fetch body: JSON, one event or a small batch, checked field by field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ashiato.beacon import strictjson
from ashiato.beacon.consent_signals import NO_SIGNALS, ConsentSignals, read_signals
from ashiato.beacon.errors import InvalidInput

MAX_EVENTS = 25
_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_TEXT_FIELDS = {
    "s": "site",
    "u": "url",
    "r": "referrer",
    "e": "name",
    "c": "consent",
    "l": "language",
}


@dataclass(frozen=True, slots=True)
class BeaconEvent:
    """One event as the page sent it."""

    site: str = ""
    url: str = ""
    referrer: str = ""
    name: str = "pageview"
    consent: str | None = None
    language: str = ""
    screen: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    signals: ConsentSignals = NO_SIGNALS


def event_name(value: str) -> str:
    """A checked event name; refuses names that would make unbounded report groups."""
    if not _NAME.fullmatch(value):
        raise InvalidInput(f"event name must match {_NAME.pattern}, got {value[:80]!r}")
    return value


def screen_size(width: Any, height: Any) -> str:
    """'WxH' from two small non-negative integers, or '' when either is missing or odd."""
    try:
        w, h = int(width), int(height)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int() of an infinite float
        return ""
    if 0 < w < 100_000 and 0 < h < 100_000:
        return f"{w}x{h}"
    return ""


def _event(item: Any, index: int) -> BeaconEvent:
    where = f"event {index}" if index >= 0 else "body"
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: expected a JSON object, got {type(item).__name__}")
    values: dict[str, Any] = {}
    for key, name in _TEXT_FIELDS.items():
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: field {key!r} must be a string")
        values[name] = value
    if "name" in values:
        values["name"] = event_name(values["name"])
    props = item.get("p", {})
    if not isinstance(props, Mapping):
        raise InvalidInput(f"{where}: field 'p' must be an object")
    values["props"] = dict(props)
    values["screen"] = screen_size(item.get("sw"), item.get("sh"))
    values["signals"] = read_signals(item, where)
    return BeaconEvent(**values)


def parse_body(body: bytes) -> list[BeaconEvent]:
    """The events in a beacon body; InvalidInput says what is wrong with a bad one."""
    doc = strictjson.loads(body)
    if isinstance(doc, Mapping) and "events" in doc:
        doc = doc["events"]
        if not isinstance(doc, list):
            raise InvalidInput("'events' must be a list")
    if isinstance(doc, list):
        if not doc:
            raise InvalidInput("no events in the batch")
        if len(doc) > MAX_EVENTS:
            raise InvalidInput(f"at most {MAX_EVENTS} events per request, got {len(doc)}")
        return [_event(item, i) for i, item in enumerate(doc)]
    return [_event(doc, -1)]
