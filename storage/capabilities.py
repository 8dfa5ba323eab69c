"""What the connected ClickHouse can do, decided once from its version."""

from __future__ import annotations

import re
from dataclasses import dataclass


def parse_version(text: str) -> tuple[int, ...]:
    """Turn `version()` output such as '18.16.1' or '26.9.2.1' into a comparable tuple."""
    parts = re.findall(r"\d+", text)
    if not parts:
        raise ValueError(f"not a ClickHouse version: {text!r}")
    return tuple(int(p) for p in parts[:4])


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Features newer than ClickHouse 18.16 that the schema and writer switch on when present."""

    version: tuple[int, ...]
    embedded: bool = False

    @classmethod
    def from_version(cls, text: str, embedded: bool = False) -> Capabilities:
        """Probe result for a server that reported `text` from `SELECT version()`."""
        return cls(parse_version(text), embedded)

    @property
    def version_text(self) -> str:
        """The version as ClickHouse prints it."""
        return ".".join(str(p) for p in self.version)

    @property
    def low_cardinality(self) -> bool:
        """LowCardinality(String) columns (stable since 19.0)."""
        return self.version >= (19, 0)

    @property
    def ttl(self) -> bool:
        """Column and table TTL clauses (19.6)."""
        return self.version >= (19, 6)

    @property
    def ipv6_type(self) -> bool:
        """The IPv6 domain type (19.3)."""
        return self.version >= (19, 3)

    @property
    def datetime64(self) -> bool:
        """DateTime64 with sub-second precision (20.1)."""
        return self.version >= (20, 1)

    @property
    def modify_setting(self) -> bool:
        """`ALTER TABLE … MODIFY SETTING` for MergeTree settings (19.16)."""
        return self.version >= (19, 16)

    @property
    def prompt_cleanup(self) -> bool:
        """MergeTree `max_cleanup_delay_period` for plain MergeTree tables (23.1; chdb)."""
        return self.embedded or self.version >= (23, 1)

    @property
    def dedup_token(self) -> bool:
        """The `insert_deduplication_token` setting (22.2)."""
        return self.version >= (22, 2)

    @property
    def lightweight_delete(self) -> bool:
        """`DELETE FROM t WHERE …` that marks rows instead of rewriting parts (23.3)."""
        return self.version >= (23, 3)

    @property
    def parse_queries(self) -> bool:
        """`formatQuery` and `EXPLAIN AST`, which the query gate parses with (23.10; chdb)."""
        return self.embedded or self.version >= (23, 10)

    def string_type(self, low_cardinality: bool = False) -> str:
        """The column type for a string that repeats a few values, where the server can do it."""
        return "LowCardinality(String)" if low_cardinality and self.low_cardinality else "String"
