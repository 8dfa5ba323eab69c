"""A small document model for the privacy notice, written out as Markdown or as an HTML page.

The notice is built once as blocks of inline spans, so both formats say the same thing and
each escapes in its own way: text the operator typed (a recipient's name, say) can never turn
into markup in either.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Code:
    """A name shown as code: a column, a cookie, a setting value."""

    text: str


Span = str | Code
Inline = tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class Heading:
    level: int  # 1 for the title, 2 for a section, 3 below
    text: Inline


@dataclass(frozen=True, slots=True)
class Para:
    text: Inline


@dataclass(frozen=True, slots=True)
class Bullets:
    items: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Table:
    head: tuple[Inline, ...]
    rows: tuple[tuple[Inline, ...], ...]


Block = Heading | Para | Bullets | Table
_FORMATTER = string.Formatter()
_CODE = re.compile(r"`([^`]+)`")


def fill(template: str, **values: str | Code | Inline) -> Inline:
    """The template's text with `{name}` fields filled in.

    In the template's own text `` `x` `` marks code; values are inserted as given, never read
    as markup, whatever characters they hold.
    """
    spans: list[Span] = []
    for literal, field, _, _ in _FORMATTER.parse(template):
        for index, part in enumerate(_CODE.split(literal)):
            if part:
                spans.append(Code(part) if index % 2 else part)
        if field is not None:
            value = values[field]
            spans.extend(value if isinstance(value, tuple) else (value,))
    return tuple(spans)


def joined(items: Sequence[Inline], sep: str, last: str) -> Inline:
    """The items as a sentence lists them: "a, b or c"."""
    out: list[Span] = []
    for index, item in enumerate(items):
        if index:
            out.append(last if index == len(items) - 1 else sep)
        out.extend(item)
    return tuple(out)


# --- Markdown --------------------------------------------------------------------------------

# What could start markup inside a line, or end a table cell.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&#~])")
_BREAKS = re.compile(r"[\r\n]+")


def _md_inline(text: Inline) -> str:
    out = []
    for span in text:
        if isinstance(span, Code):
            out.append(f"`` {span.text} ``" if "`" in span.text else f"`{span.text}`")
        else:
            out.append(_MD_SPECIAL.sub(r"\\\1", span))
    # A line break would end a table row or a list item: text stays on its line.
    return _BREAKS.sub(" ", "".join(out))


def to_markdown(blocks: Iterable[Block]) -> str:
    """The blocks as CommonMark (GitHub tables)."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + _md_inline(block.text))
        elif isinstance(block, Para):
            parts.append(_md_inline(block.text))
        elif isinstance(block, Bullets):
            parts.append("\n".join("- " + _md_inline(item) for item in block.items))
        else:
            lines = [
                "| " + " | ".join(_md_inline(cell) for cell in block.head) + " |",
                "|" + "---|" * len(block.head),
            ]
            lines += ["| " + " | ".join(_md_inline(c) for c in row) + " |" for row in block.rows]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# --- HTML ------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;line-height:1.6;max-width:52rem;margin:2rem auto;"
    "padding:0 1rem;color:#222}table{border-collapse:collapse;margin:1rem 0}"
    "th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}"
    "code{font-size:.9em;background:#f3f3f3;padding:0 .2em}"
)


def _html_inline(text: Inline) -> str:
    return "".join(
        f"<code>{html.escape(span.text)}</code>" if isinstance(span, Code) else html.escape(span)
        for span in text
    )


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{_html_inline(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        return f"<p>{_html_inline(block.text)}</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{_html_inline(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    head = "".join(f"<th>{_html_inline(cell)}</th>" for cell in block.head)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_html_inline(cell)}</td>" for cell in row) + "</tr>"
        for row in block.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def to_html(blocks: Sequence[Block], lang: str) -> str:
    """The blocks as a self-contained HTML page in `lang`, titled by its first heading."""
    title = next((_html_inline(b.text) for b in blocks if isinstance(b, Heading)), "")
    body = "\n".join(_html_block(block) for block in blocks)
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n</main>\n</body>\n</html>\n"
    )
