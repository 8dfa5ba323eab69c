"""The events table ClickHouse creates is the column table, on both backends."""

from __future__ import annotations

from ashiato.beacon.columns import EVENT_COLUMNS
from ashiato.storage.backend import Store, connection
from ashiato.storage.schema import EVENT_RECORD, EVENTS_TABLE, migrate


def test_the_created_events_table_has_the_declared_columns_and_types(store: Store) -> None:
    with connection(store) as backend:
        migrate(backend)
        described = backend.query(f"DESCRIBE TABLE {EVENTS_TABLE}").rows
        low_cardinality = backend.capabilities.low_cardinality
    assert [(str(r[0]), str(r[1])) for r in described] == [
        (c.name, c.clickhouse_type(low_cardinality)) for c in EVENT_COLUMNS
    ]


def test_the_spool_lays_out_every_column_with_its_type() -> None:
    assert tuple((c.name, c.type) for c in EVENT_COLUMNS) == EVENT_RECORD
