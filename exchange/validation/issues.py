"""One reported problem with a submission, and the JSON pointers that locate it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from exchange.errors import ErrorItem

_SHOWN_CHARS = 80


#: One problem: a JSON pointer into the payload ("" for the root; for a missing member, the place where it
#: belongs), a stable rule id such as ``schema:required`` or ``vocabulary:unknown-term``, and a readable
#: English sentence. The same type the error catalogue reports, so verdicts and HTTP problems share a shape.
Issue = ErrorItem


def escape_token(token: str | int) -> str:
    """Escape one reference token of a JSON pointer (RFC 6901 section 3)."""
    if isinstance(token, int):
        return str(token)
    return token.replace("~", "~0").replace("/", "~1")


def to_pointer(prefix: str, tokens: Iterable[str | int]) -> str:
    """Append path tokens to a pointer prefix."""
    return prefix + "".join("/" + escape_token(token) for token in tokens)


def show(value: Any) -> str:
    """A short JSON rendering of a value for messages."""
    try:
        text = orjson.dumps(value).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        text = repr(value)
    if len(text) > _SHOWN_CHARS:
        return text[: _SHOWN_CHARS - 1] + "…"
    return text
