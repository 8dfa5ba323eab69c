"""JSON from strangers: nesting, numbers and text bounded, and a reason for every refusal.

The standard parser accepts what later breaks a stored row or the process: nesting deep enough
to exhaust the stack (RecursionError), numbers that overflow to infinity or run to thousands of
digits (ValueError from `int`), NaN and Infinity, and escapes of lone surrogates (``\\ud800``)
that no UTF-8 encoder can write. Each is refused here as `InvalidInput` whose `reason` says
which: ``too_deep``, ``number_overflow``, ``lone_surrogate``, or ``bad_body`` for the rest.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ashiato.beacon.errors import InvalidInput

# Deeper than any body the tracker or the admin client sends (at most four levels), and far
# below the depth where the parser's recursion would give out.
MAX_DEPTH = 16
# Integers beyond 64 bits fit no column and no JSON consumer's number; 2**64 has 20 digits.
_MAX_INT_DIGITS = 20
_INT_RANGE = range(-(2**63), 2**64)
_SURROGATE = re.compile("[\ud800-\udfff]")
# How a surrogate can get into a document at all: as an escape (raw ones are not UTF-8).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
# What Python's "surrogateescape" error handler makes of bytes that are not UTF-8.
_NOT_A_BYTE_ESCAPE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def loads(data: bytes, *, max_depth: int = MAX_DEPTH, byte_escapes: bool = False) -> Any:
    """The JSON document in `data`; InvalidInput (with its reason) when it is not acceptable.

    `byte_escapes=True` lets through the surrogates U+DC80-U+DCFF, for the admin client: it
    carries the bytes of log lines that are not UTF-8 as those "surrogateescape" escapes, and
    the server turns them back into the same bytes. Any other lone surrogate is still refused.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("body is not UTF-8") from None
    try:
        doc = _DECODER.decode(text)
    except RecursionError:
        raise InvalidInput(f"JSON nested deeper than {max_depth} levels", "too_deep") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    # Both checks walk the document; the text shows when one cannot find anything, which for
    # nearly every body is both (a walk costs about as much as the parse).
    if text.count("[") + text.count("{") > max_depth:
        _check_depth(doc, max_depth)
    if _SURROGATE_ESCAPE.search(text):
        _check_text(doc, _NOT_A_BYTE_ESCAPE if byte_escapes else _SURROGATE)
    return doc


def _constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a JSON number")


def _int(text: str) -> int:
    if len(text) <= 18:  # the common case: fits whatever its sign
        return int(text)
    # Checked before int(): converting thousands of digits is what costs (and what Python's
    # own digit limit refuses with a bare ValueError).
    value = int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else None
    if value is None or value not in _INT_RANGE:
        raise InvalidInput(f"integer {text[:24]}… does not fit in 64 bits", "number_overflow")
    return value


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InvalidInput(f"number {text[:24]} is too large", "number_overflow")
    return value


# Built once: json.loads with hooks builds a decoder per call, which costs as much as the parse.
_DECODER = json.JSONDecoder(parse_int=_int, parse_float=_float, parse_constant=_constant)


def _check_depth(doc: Any, max_depth: int) -> None:
    """Refuse containers nested past `max_depth`, level by level rather than by recursion."""
    level = [doc] if isinstance(doc, dict | list) else []
    depth = 1  # of the containers in `level`
    while level:
        if depth > max_depth:
            raise InvalidInput(f"JSON nested deeper than {max_depth} levels", "too_deep")
        below: list[Any] = []
        for container in level:
            values = container.values() if isinstance(container, dict) else container
            below.extend(value for value in values if isinstance(value, dict | list))
        level = below
        depth += 1


def _check_text(doc: Any, refused: re.Pattern[str]) -> None:
    """Refuse strings (keys too) holding a `refused` surrogate."""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if refused.search(value):
                raise InvalidInput(
                    "text holds a lone surrogate escape (\\ud800-\\udfff), which is not Unicode",
                    "lone_surrogate",
                )
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
