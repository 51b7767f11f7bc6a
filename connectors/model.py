"""What every importer produces: records ready to submit, and notes on what could not be mapped."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from exchange import times

Level = Literal["info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class Note:
    """One remark of an importer: ``where`` names the place in the source (an XML path, ``line 3,
    column F (status)``, a feed entry); ``error`` means the record cannot be built or is invalid."""

    level: Level
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}" if self.where else f"{self.level}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "where": self.where, "message": self.message}


@dataclass(slots=True)
class Imported:
    """One record prepared by an importer (not yet signed)."""

    kind: str
    record_id: str
    record: dict[str, Any]
    source: str
    notes: list[Note] = field(default_factory=list)
    action: str = "upsert"

    @property
    def ok(self) -> bool:
        return not any(note.level == "error" for note in self.notes)

    def note(self, level: Level, where: str, message: str) -> None:
        self.notes.append(Note(level, where, message))


@dataclass(slots=True)
class ImportReport:
    """What an importer made of one source: its records, and notes that belong to no single record."""

    source: str
    records: list[Imported] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(n.level == "error" for n in self.notes) and all(r.ok for r in self.records)

    def note(self, level: Level, where: str, message: str) -> None:
        self.notes.append(Note(level, where, message))

    def all_notes(self) -> list[tuple[str | None, Note]]:
        out: list[tuple[str | None, Note]] = [(None, n) for n in self.notes]
        for record in self.records:
            out.extend((record.record_id, n) for n in record.notes)
        return out


class ImportFailure(Exception):
    """The source cannot be read at all (not XML, not a feed, not a CSV file, unreachable)."""


def slug(text: str, limit: int = 128) -> str:
    """A record id from any text: ASCII letters, digits, dots, hyphens and underscores."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ascii_text = re.sub(r"\.(?![A-Za-z0-9])|(?<![A-Za-z0-9])\.", "-", ascii_text)
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text).strip("-._").lower()
    cleaned = re.sub(r"-{2,}", "-", cleaned)[:limit].strip("-._")
    return cleaned or "record"


def provenance(connector: str, source_uri: str | None = None) -> dict[str, str]:
    """The record's ``provenance`` member: which importer, when, and from which URL."""
    value = {"connector": connector, "retrieved_at": times.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    if source_uri and re.match(r"^https?://\S+$", source_uri):
        value["source_uri"] = source_uri
    return value
