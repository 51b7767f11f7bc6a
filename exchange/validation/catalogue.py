"""The schema catalogue: JSON Schemas, vocabularies and country data read from the ``schemas`` package."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import orjson

from exchange.identifiers import KINDS

#: Base of every schema ``$id``: ``<base><name>``, e.g. ``https://schemas.exchange.int/law/1``.
SCHEMA_ID_BASE = "https://schemas.exchange.int/"

#: Record kinds; each has its schemas in ``schemas/<kind>/<version>.json``.
RECORD_KINDS = KINDS

#: Schema documents that are not record schemas.
SHARED_SCHEMAS = ("defs/1", "submission/1")
ENVELOPE_SCHEMA = "submission/1"

_VERSION_FILE = re.compile(r"^([1-9][0-9]{0,5})\.json$")


def _read_json(item: Traversable) -> Any:
    return orjson.loads(item.read_bytes())


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every document of the ``schemas`` package, parsed.

    ``schemas`` maps a schema name (``"law/1"``, ``"defs/1"``, ``"submission/1"``) to its document;
    ``record_schemas`` lists the names of the record schemas, sorted.
    """

    schemas: Mapping[str, dict[str, Any]]
    record_schemas: tuple[str, ...]
    vocabularies: dict[str, Any]
    countries: dict[str, Any]
    treaty_status: dict[str, Any]

    @classmethod
    def from_package(cls, package: str = "schemas") -> Catalogue:
        root = resources.files(package)
        schemas: dict[str, dict[str, Any]] = {}
        record_schemas: list[str] = []
        for folder in sorted(root.iterdir(), key=lambda item: item.name):
            if not folder.is_dir() or folder.name not in (*RECORD_KINDS, "defs", "submission"):
                continue
            for item in folder.iterdir():
                match = _VERSION_FILE.match(item.name)
                if match is None:
                    continue
                name = f"{folder.name}/{match.group(1)}"
                schemas[name] = _load_schema(item, name)
                if folder.name in RECORD_KINDS:
                    record_schemas.append(name)
        for name in SHARED_SCHEMAS:
            if name not in schemas:
                raise ValueError(f"The schema package lacks {name}.json.")
        return cls(
            schemas=schemas,
            record_schemas=tuple(sorted(record_schemas)),
            vocabularies=_read_json(root / "vocabularies.json"),
            countries=_read_json(root / "countries.json"),
            treaty_status=_read_json(root / "treaty_status.json"),
        )


def schema_id(name: str) -> str:
    """The ``$id`` of a schema name: ``law/1`` → ``https://schemas.exchange.int/law/1``."""
    return SCHEMA_ID_BASE + name


def schema_kind(name: str) -> str:
    """The record kind a schema name is for: ``law/1`` → ``law``."""
    return name.partition("/")[0]


def _load_schema(item: Traversable, name: str) -> dict[str, Any]:
    document = _read_json(item)
    if not isinstance(document, dict) or document.get("$id") != schema_id(name):
        raise ValueError(f"Schema {name} must be an object whose $id is {schema_id(name)}.")
    return document
