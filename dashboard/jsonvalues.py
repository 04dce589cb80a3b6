"""JSON values as JSON defines them and a database can store them.

Python's json module reads ``NaN``, ``Infinity`` and ``1e400`` (as infinity), and strings may
hold NUL characters or unpaired surrogates ("\\ud800", not UTF-8 at all). SQLite's json_valid
and PostgreSQL's jsonb and text columns refuse all of these, so a value holding one fails the
write (or, stored as text, every page that shows it). The agent API's body parser and MCP
tools, and the dashboard's metadata form and service, check with the same two functions.
"""

from __future__ import annotations

import json
import math
from typing import Any


class UnsupportedJson(ValueError):
    """Text Python's json module reads but JSON (RFC 8259) does not allow."""


def _no_constant(name: str) -> float:
    raise UnsupportedJson(f"{name} is not a JSON number; send a finite number or null.")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400 reads as infinity
        raise UnsupportedJson(f"{text} is too large a number; send a finite number.")
    return number


def loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity, numbers beyond a float and nesting deeper
    than Python's recursion limit (UnsupportedJson, a ValueError like json's own decoding
    errors)."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        # "[[[[…" a thousand deep: json raises this, not a ValueError, so callers that expect
        # bad JSON to be a ValueError would answer a 500.
        raise UnsupportedJson(
            f"objects or arrays nested more than {MAX_DEPTH} levels deep are not taken."
        ) from None


# Deeper than any real record needs, and far below where serialising (pydantic stops at 255
# levels) or Python's recursion limit would fail with a 500 instead of a clear 400.
MAX_DEPTH = 64


def unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """``(where, what)`` for the first part of a decoded JSON value no database can hold, or
    None. ``what`` is "NUL characters", "unpaired UTF-16 surrogates", "the number inf" or
    nesting past ``MAX_DEPTH``; ``where`` is a dotted path below ``path`` ("" for the value
    itself). A bad key is reported at its object's path ("keys" at the top): echoing the key
    would repeat it."""
    return _unstorable(value, path, 0)


def _unstorable(value: Any, path: str, depth: int) -> tuple[str, str] | None:
    if isinstance(value, str):
        if "\x00" in value:
            return path, "NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "unpaired UTF-16 surrogates"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"the number {value}"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    if depth >= MAX_DEPTH:
        return path, f"objects or arrays nested more than {MAX_DEPTH} levels deep"
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if problem := _unstorable(str(key), path or "keys", depth) or _unstorable(
            item, where, depth + 1
        ):
            return problem
    return None
