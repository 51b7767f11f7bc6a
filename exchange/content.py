"""When two versions of a record hold the same content.

A submission whose schema and record equal the current version's is *unchanged*: it makes no new
version. Records are compared as JSON values, as their RFC 8785 canonical forms would be: member order
and the spelling of a number (``1``, ``1.0``, ``1e0``) do not matter. ``provenance.retrieved_at`` does
not count either: when an importer fetched a text again says nothing about the text, and a nightly
re-import of the same law must not publish it again. The repository and ``exchange verify`` compare
with this one function.

The digest is SHA-256 over the value with integral numbers written as integers and members sorted
(orjson, a few microseconds for a law): the same equality as RFC 8785's, at a small part of the cost
of writing the canonical form itself, which matters on the validation worker's path.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

__all__ = ["comparable", "content_sha256", "value_digest"]


def comparable(record: Any) -> Any:
    """The record as versions are compared: without ``provenance.retrieved_at``."""
    if not isinstance(record, dict):
        return record
    provenance = record.get("provenance")
    if not isinstance(provenance, dict) or "retrieved_at" not in provenance:
        return record
    return {**record, "provenance": {k: v for k, v in provenance.items() if k != "retrieved_at"}}


def _numbers(value: Any) -> Any:
    """``value`` with every integral float as an integer (``1.0`` and ``1`` are one JSON number)."""
    kind = type(value)
    if kind is dict:
        return {k: _numbers(v) for k, v in value.items()}
    if kind is list:
        return [_numbers(v) for v in value]
    if kind is float:
        if not math.isfinite(value):
            raise ValueError("NaN and infinity are no JSON numbers")
        return int(value) if value.is_integer() else value
    return value


def content_sha256(schema: Any, record: Any, visibility: str = "public", readers: tuple[str, ...] = ()) -> str | None:
    """SHA-256 (hex) of ``{"schema", "record"}`` as compared; None when the record is no JSON value
    (not a finite number, say): it then never counts as unchanged.

    A version that is not public adds its ``visibility`` and (sorted) ``readers``: the same record made
    visible to others is a new version, and a public record's digest is what it always was.
    """
    try:
        value: dict[str, Any] = {"schema": schema, "record": _numbers(comparable(record))}
        if visibility != "public":
            value |= {"visibility": visibility, "readers": sorted(readers)}
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError, OverflowError, orjson.JSONEncodeError):
        return None
    return hashlib.sha256(data).hexdigest()


def value_digest(value: Any) -> bytes:
    """SHA-256 of a JSON value as compared (member order and number spelling aside), exactly: nothing is
    left out. A value with no JSON form (NaN, say) is digested from its ``repr``, so it equals nothing
    valid."""
    try:
        data = orjson.dumps(_numbers(value), option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError, OverflowError):
        data = repr(value).encode()
    return hashlib.sha256(data).digest()
