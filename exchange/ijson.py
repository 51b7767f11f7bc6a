"""Strict I-JSON (RFC 7493) parsing for signed payloads.

Python's ``json`` accepts duplicate member names (last wins), ``NaN`` and ``Infinity``, and lone
surrogates; a signed document that means different things to different parsers is refused instead.

Two parsers, one answer. The fast one is orjson, which itself refuses invalid UTF-8, a byte order
mark, lone surrogates, ``NaN`` and ``Infinity``, but keeps the last of duplicate member names. So a
document is taken from it only when it also holds exactly as many ``:`` as orjson's re-serialisation
of the result (one per member plus those inside strings, which orjson never escapes; a dropped
duplicate takes its colon with it), has no ``\\u003a`` escape that could hide one, stays within
the depth limit and holds no number beyond ±(2**53-1). Anything else, including every fault, goes to
the strict parser (``json`` with a duplicate-refusing hook and a full walk), which names the fault
and where it is.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from exchange.validation.issues import escape_token

_MAX_SAFE_INT = 2**53 - 1
#: Only a \uD800-\uDFFF escape can produce an unpaired surrogate; texts without one skip that check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: U+0000 can only come from this escape (a raw NUL is no JSON); texts without it skip that check.
_NUL_ESCAPE = b"\\u0000"
#: An escaped colon: it would make the colon count of the fast path unreliable.
_COLON_ESCAPE = re.compile(rb"\\u003[aA]")


class IJSONError(ValueError):
    """The bytes are not I-JSON; ``pointer`` names where, when known."""

    def __init__(self, message: str, pointer: str = "") -> None:
        super().__init__(message)
        self.pointer = pointer


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise IJSONError(f"duplicate member name {key!r}")
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise IJSONError(f"{name} is not a JSON number")


def _integer(text: str) -> int:
    # Python refuses to convert more than 4,300 digits (a ValueError that is no parse fault); I-JSON
    # refuses far fewer anyway, so a long integer is named as out of range before it is converted.
    if len(text.lstrip("-")) > 16:
        raise IJSONError("integer outside the I-JSON range ±(2**53-1)")
    return int(text)


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_integer)


def _fine(value: Any, max_depth: int) -> bool:
    """The common case, fast: nothing too deep and no integer out of range (scalars are never stacked)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return False
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif (kind is int or kind is float) and not -_MAX_SAFE_INT <= child <= _MAX_SAFE_INT:
                return False  # a float this large may have been an integer in the text: look closer
    return True


def _check(value: Any, max_depth: int, check_strings: bool) -> None:
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, pointer = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                raise IJSONError(f"nesting deeper than {max_depth} levels", pointer)
            for key, child in node.items():
                if check_strings:
                    _check_string(key, pointer)
                stack.append((child, depth + 1, f"{pointer}/{escape_token(key)}"))
        elif isinstance(node, list):
            if depth > max_depth:
                raise IJSONError(f"nesting deeper than {max_depth} levels", pointer)
            stack.extend((child, depth + 1, f"{pointer}/{i}") for i, child in enumerate(node))
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if not -_MAX_SAFE_INT <= node <= _MAX_SAFE_INT:
                raise IJSONError("integer outside the I-JSON range ±(2**53-1)", pointer)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise IJSONError("number outside the range of IEEE 754 double precision", pointer)
        elif isinstance(node, str) and check_strings:
            _check_string(node, pointer)


def _check_string(text: str, pointer: str) -> None:
    if "\x00" in text:  # PostgreSQL cannot store it in text, and no record needs it
        raise IJSONError("string holds U+0000 (NUL), which the repository does not store", pointer)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise IJSONError("string holds an unpaired surrogate", pointer) from None


def loads(data: bytes, *, max_depth: int = 32) -> Any:
    """Parse UTF-8 bytes as I-JSON, or raise :class:`IJSONError` naming the fault."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _strict(data, max_depth)
    if (
        type(value) in (dict, list)
        and _fine(value, max_depth)
        and data.count(b":") == orjson.dumps(value).count(b":")
        and _COLON_ESCAPE.search(data) is None
        and _NUL_ESCAPE not in data
    ):
        return value
    return _strict(data, max_depth)


#: Nesting the decoder may meet safely, far below Python's recursion limit.
_SAFE_DEPTH = 200
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (strings left out), without parsing it."""
    deepest = depth = 0
    for char in _STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _strict(data: bytes, max_depth: int) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IJSONError(f"not UTF-8 at byte {exc.start}") from None
    if text.startswith("\ufeff"):
        raise IJSONError("byte order mark before the JSON text")
    if _depth(text) > max(max_depth, _SAFE_DEPTH):
        # refused before parsing: the standard decoder recurses, and hitting Python's recursion limit
        # leaves CPython 3.11 in a state where later parsing of Python source fails. Shallower excess
        # is found by the decoder below, which names where it is.
        raise IJSONError(f"nesting deeper than {max_depth} levels")
    try:
        value = _DECODER.decode(text)
    except IJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise IJSONError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise IJSONError(f"nesting deeper than {max_depth} levels") from None
    check_strings = _SURROGATE_ESCAPE.search(text) is not None or "\\u0000" in text
    if check_strings or not isinstance(value, dict | list) or not _fine(value, max_depth):
        _check(value, max_depth, check_strings)  # the slow walk finds and names the fault
    return value


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, for responses and stored documents."""
    return orjson.dumps(value)
