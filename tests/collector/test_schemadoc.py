"""The README's column reference is the column table, rendered; every column is described."""

from __future__ import annotations

from pathlib import Path

from ashiato.beacon.columns import EVENT_COLUMNS
from ashiato.collector.schemadoc import schema_markdown
from tests.collector.test_cli import run_cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_holds_the_current_column_reference() -> None:
    start = README.index("<!-- schema:begin -->\n") + len("<!-- schema:begin -->\n")
    end = README.index("<!-- schema:end -->")
    assert README[start:end] == schema_markdown(), "paste the output of `ashiato schema`"


def test_every_column_has_a_type_a_purpose_and_a_meaning() -> None:
    rendered = schema_markdown()
    for column in EVENT_COLUMNS:
        assert f"| `{column.name}` | {column.type}" in rendered
        assert column.meaning.strip()


def test_the_schema_command_prints_it() -> None:
    assert run_cli("schema", check=True).stdout == schema_markdown()
