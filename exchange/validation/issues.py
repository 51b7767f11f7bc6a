"""One reported problem with a submission, and the JSON pointers that locate it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

_SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem found in a submission payload.

    ``pointer`` is an RFC 6901 JSON pointer into the payload ("" for the root; for a missing member, the
    place where it belongs). ``rule`` is a stable id such as ``schema:required`` or
    ``vocabulary:unknown-term``. ``message`` is a readable English sentence.
    """

    pointer: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "rule": self.rule, "message": self.message}


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
