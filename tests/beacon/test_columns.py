"""The column table is the one source: the event model and the insert list follow it."""

from __future__ import annotations

import dataclasses
import typing

from ashiato.beacon.columns import BY_NAME, COLUMNS, EVENT_COLUMNS, withheld
from ashiato.beacon.event import Event
from ashiato.beacon.vocabulary import PERIOD_NAMES, PURPOSES, RETENTION_CLASSES

# The Python type each ClickHouse type is held in by the event model.
_PYTHON_TYPES: dict[str, object] = {
    "UUID": str,
    "String": str,
    "Nullable(String)": str | None,
    "UInt8": bool,  # is_bot, the only UInt8, is a flag
    "UInt16": int,
    "UInt32": int,
    "UInt64": int,
    "Array(String)": tuple[str, ...],
}


def test_the_event_has_every_column_but_day_in_table_order() -> None:
    fields = [f.name for f in dataclasses.fields(Event)]
    assert fields == [c.name for c in EVENT_COLUMNS if c.name != "day"]
    assert tuple(c.name for c in EVENT_COLUMNS) == COLUMNS
    assert len(set(COLUMNS)) == len(COLUMNS)


def test_each_event_field_has_the_python_type_of_its_column() -> None:
    hints = typing.get_type_hints(Event)
    for column in EVENT_COLUMNS:
        if column.name == "day":
            continue
        assert hints[column.name] == _PYTHON_TYPES[column.type], column.name


def test_a_row_has_exactly_the_columns() -> None:
    row = Event(ts_ms=1_700_000_000_000, kind="pageview").to_row()
    assert tuple(row) != () and set(row) == set(COLUMNS)
    assert Event.from_row(row) == Event(
        ts_ms=1_700_000_000_000, kind="pageview", event_id=row["event_id"]
    )


def test_every_column_says_what_it_holds_and_what_it_needs() -> None:
    for column in EVENT_COLUMNS:
        assert column.meaning and column.needs in PURPOSES, column.name
        # The privacy notice describes every column in Japanese too, in Japanese script.
        assert any("\u3040" <= ch <= "\u9fff" for ch in column.meaning_ja), column.name
        assert not column.repeats or column.type == "String", column.name
    assert BY_NAME["language"].clickhouse_type(low_cardinality=True) == "LowCardinality(String)"
    assert BY_NAME["language"].clickhouse_type(low_cardinality=False) == "String"
    assert BY_NAME["url"].clickhouse_type(low_cardinality=True) == "String"


def test_each_purpose_has_its_retention_class_and_every_class_a_period() -> None:
    assert set(PURPOSES) <= set(RETENTION_CLASSES) <= set(PERIOD_NAMES)


def test_a_suppressed_subject_keeps_nothing_that_identifies_it() -> None:
    names = {c.name for c in withheld(PURPOSES, "consent", suppressed=True)}
    assert names == {"visitor_id", "member_id", "recipient"}
    assert "visitor_id" not in {c.name for c in withheld(("necessary",), "consent")}
