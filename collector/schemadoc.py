"""The events table described for people: every column, its type, the purpose it needs, what it
means. Rendered from the one column table (`beacon.columns`), for `ashiato schema` and the
README's schema reference, so neither can drift from what is stored."""

from __future__ import annotations

from ashiato.beacon.columns import EVENT_COLUMNS

__all__ = ["schema_markdown"]


def schema_markdown() -> str:
    """The `events` columns as a Markdown table."""
    lines = [
        "| column | type | kept when consent grants | meaning |",
        "|---|---|---|---|",
    ]
    for column in EVENT_COLUMNS:
        declared = column.type + (" (LowCardinality from 19.0)" if column.repeats else "")
        needs = "always" if column.needs == "necessary" else column.needs
        lines.append(f"| `{column.name}` | {declared} | {needs} | {column.meaning} |")
    return "\n".join(lines) + "\n"
