"""Rows as spool records: their values in the segment's column order, as a JSON array.

A segment's header names its columns and their ClickHouse types (`_segments.file_header`), so
a record holds values only, and a row spooled before an upgrade that added a column decodes
after it with that column simply absent (the insert names the segment's columns; ClickHouse
fills the others with their defaults). Format-1 segments, written before column lists, hold
self-describing ``{"row": {...}, "types": {...}}`` records; they still decode.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import orjson

Columns = tuple[tuple[str, str], ...]
"""(name, ClickHouse type) of each value in a record, in order."""


def encode_values(row: Mapping[str, Any], names: Sequence[str]) -> bytes:
    """A row as one record: its values for `names`, in that order.

    orjson writes dates and times as ISO text; the column types in the segment header turn
    them back. It runs once per hit on the event loop, where json.dumps cost ~25x more.
    """
    return orjson.dumps([row[name] for name in names])


def _identity(value: Any) -> Any:
    return value


def _restorer(type_name: str) -> Callable[[Any], Any]:
    inner = type_name.removeprefix("Nullable(").removesuffix(")")
    if inner in ("Date", "Date32"):
        return lambda v: None if v is None else date.fromisoformat(v)
    if inner.startswith("DateTime"):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    return _identity


@functools.lru_cache(maxsize=16)
def _restorers(columns: Columns) -> tuple[Callable[[Any], Any], ...]:
    return tuple(_restorer(type_name) for _, type_name in columns)


def decode_record(record: bytes, columns: Columns | None) -> dict[str, Any]:
    """The row a record holds, keyed by column; ValueError when it is not a row of `columns`.

    `columns` None means the segment has no column list (format 1, or a damaged header): only
    self-describing records decode then.
    """
    value = orjson.loads(record)
    if isinstance(value, dict):
        return row_from_envelope(value)
    if columns is None:
        raise ValueError("a positional record in a segment without a readable column list")
    if not isinstance(value, list) or len(value) != len(columns):
        raise ValueError(f"a record of {len(value)} values where {len(columns)} were written")
    restorers = _restorers(columns)
    return {
        name: restore(v) for (name, _), restore, v in zip(columns, restorers, value, strict=True)
    }


def encode_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as a self-describing envelope: ``{"row": {...}, "types": {"day": "date"}}``.

    Dead-letter files keep rows this way, so a person can read them and a redrive restores
    dates without knowing the table.
    """
    plain: dict[str, Any] = {}
    types: dict[str, str] = {}
    for key, value in row.items():
        if isinstance(value, datetime):  # before date: a datetime is a date too
            plain[key], types[key] = value.isoformat(), "datetime"
        elif isinstance(value, date):
            plain[key], types[key] = value.isoformat(), "date"
        else:
            plain[key] = value
    return {"row": plain, "types": types} if types else {"row": plain}


def row_from_envelope(envelope: Any) -> dict[str, Any]:
    """The row of an already parsed envelope; ValueError when it is not one."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("row"), dict):
        raise ValueError("not a spooled row")
    row = dict(envelope["row"])
    for key, kind in envelope.get("types", {}).items():
        if row.get(key) is not None:
            row[key] = (datetime if kind == "datetime" else date).fromisoformat(row[key])
    return row
