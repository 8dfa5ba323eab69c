"""The raw record: what the edge keeps of a hit, for the loader to enrich.

The edge answers a request after one append of this record to its spool; everything that
does not change the answer (user-agent parsing, geo, referrer classification, the columns of
the events table) waits for the loader. A record is a positional JSON array of the fields
below, in this order. The list is the record's layout and is written into the header of each
spool segment (`RAW_LAYOUT`), so a loader reads records of an older layout by name: fields
are only ever added at the end, and a field a record lacks takes its default.

The facts are raw (as the request sent them, after the edge's cleaning of header text), but
the decisions the answer depends on are already made: the consent decision, the visitor's
pseudonym (the cookie itself is never spooled) and whether the subject is suppressed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson

from ashiato.beacon.consent import ConsentDecision
from ashiato.beacon.event import new_event_id

if TYPE_CHECKING:
    from ashiato.beacon.pipeline import Hit

RAW_FIELDS: Final[tuple[tuple[str, Any], ...]] = (
    ("event_id", ""),
    ("ts_ms", 0),
    ("kind", ""),
    ("source", ""),
    ("peer", ""),
    ("x_forwarded_for", None),
    ("forwarded", None),
    ("user_agent", ""),
    ("accept_language", ""),
    ("site", ""),
    ("name", ""),
    ("url", ""),
    ("referrer", ""),
    ("language", ""),
    ("screen", ""),
    ("purposes", ()),
    ("consent_signal", ""),
    ("visitor_id", None),
    ("campaign", ""),
    ("recipient", ""),
    ("target_url", ""),
    ("props", None),
    ("host", None),
    ("method", ""),
    ("status", 0),
    ("bytes_sent", 0),
    ("request_time_ms", 0),
    ("suppressed", False),
    ("token_issued_ms", 0),
)
"""(name, default) of each value of a raw record, in record order."""

RAW_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in RAW_FIELDS)
RAW_TYPE: Final = "raw"
"""The type every field of a raw layout declares: it tells raw segments from row segments."""
RAW_LAYOUT: Final[tuple[tuple[str, str], ...]] = tuple((name, RAW_TYPE) for name in RAW_NAMES)
"""The column list spool segments of raw records declare in their header."""

# The index of each field, for the loader's hot loop.
(
    EVENT_ID,
    TS_MS,
    KIND,
    SOURCE,
    PEER,
    XFF,
    FORWARDED,
    USER_AGENT,
    ACCEPT_LANGUAGE,
    SITE,
    NAME,
    URL,
    REFERRER,
    LANGUAGE,
    SCREEN,
    PURPOSES,
    CONSENT_SIGNAL,
    VISITOR_ID,
    CAMPAIGN,
    RECIPIENT,
    TARGET_URL,
    PROPS,
    HOST,
    METHOD,
    STATUS,
    BYTES_SENT,
    REQUEST_TIME_MS,
    SUPPRESSED,
    TOKEN_ISSUED_MS,
) = range(len(RAW_FIELDS))


def is_raw_layout(columns: Sequence[tuple[str, str]] | None) -> bool:
    """True when a spool segment declaring `columns` holds raw records (not finished rows)."""
    return bool(columns) and all(kind == RAW_TYPE for _, kind in columns or ())


def raw_values(hit: Hit, decision: ConsentDecision, visitor_id: str | None) -> list[Any]:
    """The raw record of `hit` as values in `RAW_FIELDS` order, with a fresh event id."""
    return [
        new_event_id(),
        hit.ts_ms,
        hit.kind,
        hit.source,
        hit.peer,
        hit.x_forwarded_for,
        hit.forwarded,
        hit.user_agent,
        hit.accept_language,
        hit.site,
        hit.name,
        hit.url,
        hit.referrer,
        hit.language,
        hit.screen,
        decision.purposes,
        decision.signal,
        visitor_id,
        hit.campaign,
        hit.recipient,
        hit.target_url,
        hit.props or None,
        hit.host,
        hit.method,
        hit.status,
        hit.bytes_sent,
        hit.request_time_ms,
        hit.suppressed,
        hit.token_issued_ms,
    ]


def encode_raw(values: list[Any]) -> bytes:
    """One raw record's bytes; orjson.JSONEncodeError for a value JSON cannot carry."""
    return orjson.dumps(values)


@functools.lru_cache(maxsize=16)
def _remap(layout: tuple[tuple[str, str], ...]) -> tuple[tuple[int, Any], ...] | None:
    """How to read records of `layout` as the current layout: (index or -1, default) per
    field; None when the layout is the current one. ValueError for a field not known here."""
    names = [name for name, _ in layout]
    if tuple(names) == RAW_NAMES:
        return None
    unknown = set(names) - set(RAW_NAMES)
    if unknown:
        raise ValueError(f"raw records with fields this version does not know: {sorted(unknown)}")
    where = {name: i for i, name in enumerate(names)}
    return tuple((where.get(name, -1), default) for name, default in RAW_FIELDS)


def decode_raw(record: bytes, layout: tuple[tuple[str, str], ...]) -> list[Any]:
    """The values of a raw record spooled under `layout`, in the current field order.

    ValueError when the record is not a raw record of that layout.
    """
    values = orjson.loads(record)
    if not isinstance(values, list) or len(values) != len(layout):
        raise ValueError(f"a raw record that does not have the {len(layout)} fields declared")
    remap = _remap(layout)
    if remap is None:
        return values
    return [values[i] if i >= 0 else default for i, default in remap]


def decode_many(
    records: Sequence[bytes], layout: tuple[tuple[str, str], ...]
) -> tuple[list[list[Any]], int]:
    """The values of many raw records of `layout` (in the current field order), and how many
    records could not be read (left out, so they cost no other record its place).

    ValueError when the layout has fields this version does not know.
    """
    remap = _remap(layout)  # once per batch: hashing a layout costs more than a record
    width = len(layout)
    loads, decoded = orjson.loads, []
    for record in records:
        try:
            values = loads(record)
        except orjson.JSONDecodeError:
            continue
        if isinstance(values, list) and len(values) == width:
            decoded.append(values)
    if remap is not None:
        decoded = [[v[i] if i >= 0 else default for i, default in remap] for v in decoded]
    return decoded, len(records) - len(decoded)
