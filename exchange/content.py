"""When two versions of a record hold the same content.

A submission whose schema and record equal the current version's is *unchanged*: it makes no new
version. Records are compared in RFC 8785 canonical form, so member order and number spelling do not
matter, and without ``provenance.retrieved_at``: when an importer fetched a text again says nothing
about the text, and a nightly re-import of the same law must not publish it again. The repository and
``exchange verify`` compare with this one function.
"""

from __future__ import annotations

import hashlib
from typing import Any

from exchange.transparency.entries import CanonicalJSONError, canonical

__all__ = ["comparable", "content_sha256"]


def comparable(record: Any) -> Any:
    """The record as versions are compared: without ``provenance.retrieved_at``."""
    if not isinstance(record, dict):
        return record
    provenance = record.get("provenance")
    if not isinstance(provenance, dict) or "retrieved_at" not in provenance:
        return record
    return {**record, "provenance": {k: v for k, v in provenance.items() if k != "retrieved_at"}}


def content_sha256(schema: Any, record: Any) -> str | None:
    """SHA-256 (hex) of the RFC 8785 form of ``{"schema", "record"}`` as compared; None when the record
    has no canonical form (it then never counts as unchanged)."""
    try:
        return hashlib.sha256(canonical({"schema": schema, "record": comparable(record)})).hexdigest()
    except CanonicalJSONError:
        return None
