"""Coverage: what each State's laws cover of a convention, article by article.

A law's provisions name the convention articles they implement (``instrument_refs``); a provision that
names no article of an instrument still counts for the articles whose vocabulary terms it is tagged
with, and a law whose provisions are not itemised counts by its own tags. What a mapping is worth
depends on the legal status of the provision (else of the law):

- ``covered``: at least one provision in force (``in_force``, ``amended``) is mapped to the article;
- ``partial``: only provisions adopted but not in force or in force in part (``adopted_not_in_force``,
  ``partially_in_force``) are;
- ``unknown``: nothing in the repository is mapped to it. Absence of a record is not proof of a gap,
  so it is never called "not covered".

Drafts, repealed and expired provisions count for nothing. Withdrawn laws count for nothing.

:class:`CoverageIndex` keeps the contributions of every current law in memory and follows the change
feed, so a matrix is as current as the feed and costs no scan of the repository once built;
:func:`contributions` is the pure rule it applies to one law version.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from exchange.models import ChangeQuery, RecordKey, RecordVersion
from exchange.repository.port import Audit, Feeds

Status = Literal["covered", "partial", "unknown"]
STATUSES: tuple[Status, ...] = ("covered", "partial", "unknown")
RANK: dict[str, int] = {
    "in_force": 2,
    "amended": 2,
    "partially_in_force": 1,
    "adopted_not_in_force": 1,
}
_BY_RANK: dict[int, Status] = {2: "covered", 1: "partial", 0: "unknown"}
TAG_FIELDS = ("offence_categories", "ancillary_and_jurisdiction", "procedural_powers", "cooperation_mechanisms")
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Article:
    number: str
    title: Mapping[str, str]
    terms: frozenset[str]


@dataclass(frozen=True, slots=True)
class Instrument:
    id: str
    label: Mapping[str, str]
    articles: tuple[Article, ...]

    def terms_of(self) -> dict[str, list[str]]:
        """term → the numbers of the articles it corresponds to."""
        found: dict[str, list[str]] = {}
        for article in self.articles:
            for term in article.terms:
                found.setdefault(term, []).append(article.number)
        return found


def treaty_status(document: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """(instrument, State) → the dated facts recorded about its signature and ratification."""
    return {
        (instrument, entry["jurisdiction"]): {k: v for k, v in entry.items() if k != "jurisdiction"}
        for instrument, entries in document.get("instruments", {}).items()
        for entry in entries
    }


def instruments(vocabularies: Mapping[str, Any]) -> dict[str, Instrument]:
    """The catalogued instruments that list their articles, by id."""
    found: dict[str, Instrument] = {}
    for entry in vocabularies.get("instruments", []):
        articles = tuple(
            Article(str(a["number"]), a.get("title", {}), frozenset(a.get("terms", ())))
            for a in entry.get("articles", [])
        )
        if articles:
            found[entry["id"]] = Instrument(entry["id"], entry.get("label", {}), articles)
    return found


@dataclass(frozen=True, slots=True)
class Evidence:
    """One provision (or a whole law) mapped to an article, and what it is worth."""

    record: str
    version: int
    provision: str | None
    heading: str | None
    legal_status: str | None
    via: Literal["reference", "tags", "law-tags"]
    title: str = ""  # the law's title (English where the record has it), for comparative views

    @property
    def rank(self) -> int:
        return RANK.get(self.legal_status or "", 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "version": self.version,
            "provision": self.provision,
            "heading": self.heading,
            "legal_status": self.legal_status,
            "via": self.via,
        }


#: What one law contributes: (instrument, article) → its evidence for that article.
Contributions = dict[tuple[str, str], list[Evidence]]


def terms_in(item: Mapping[str, Any], fields: Sequence[str] = TAG_FIELDS) -> set[str]:
    """The vocabulary terms an object names in its term lists ``fields``."""
    found: set[str] = set()
    for name in fields:
        values = item.get(name)
        if isinstance(values, list):
            found.update(v for v in values if isinstance(v, str))
    return found


def title_text(value: Any) -> str:
    """A multilingual title in English where there is English, else in its original language."""
    if not isinstance(value, dict):
        return ""
    original = value.get("original")
    if not isinstance(original, dict):
        original = {}
    if original.get("lang") != "en":
        for translation in value.get("translations") or ():
            if isinstance(translation, dict) and translation.get("lang") == "en":
                return str(translation.get("text", ""))
    return str(original.get("text", ""))


def contributions(version: RecordVersion, catalogue: Mapping[str, Instrument]) -> Contributions:
    """The articles one law version implements, with the provisions behind each (empty for a withdrawal)."""
    content = version.content
    found: Contributions = {}
    if version.action == "withdraw" or not isinstance(content, dict):
        return found
    law_status = content.get("status") if isinstance(content.get("status"), str) else None
    record = str(version.key)
    title = title_text(content.get("title"))
    provisions = [p for p in content.get("provisions") or () if isinstance(p, dict)]
    for provision in provisions:
        status = provision.get("status") if isinstance(provision.get("status"), str) else law_status
        num = str(provision["num"]) if provision.get("num") is not None else None
        heading = provision.get("heading") if isinstance(provision.get("heading"), str) else None
        named: dict[str, set[str]] = {}
        for ref in provision.get("instrument_refs") or ():
            if isinstance(ref, dict) and isinstance(ref.get("instrument"), str) and isinstance(ref.get("article"), str):
                named.setdefault(ref["instrument"], set()).add(ref["article"].partition("(")[0])
        tags = terms_in(provision)
        for instrument in catalogue.values():
            if instrument.id in named:
                numbers = named[instrument.id]
                via: Literal["reference", "tags"] = "reference"
            else:
                numbers = {a.number for a in instrument.articles if a.terms & tags}
                via = "tags"
            for number in numbers:
                found.setdefault((instrument.id, number), []).append(
                    Evidence(record, version.version, num, heading, status, via, title)
                )
    if not provisions:
        tags = terms_in(content)
        for instrument in catalogue.values():
            for article in instrument.articles:
                if article.terms & tags:
                    found.setdefault((instrument.id, article.number), []).append(
                        Evidence(record, version.version, None, None, law_status, "law-tags", title)
                    )
    return found


@dataclass(slots=True)
class Cell:
    status: Status = "unknown"
    evidence: list[Evidence] = field(default_factory=list)


def cell_of(evidence: Iterable[Evidence]) -> Cell:
    kept = [e for e in evidence if e.rank > 0]
    return Cell(_BY_RANK[max((e.rank for e in kept), default=0)], kept)


class Coverage:
    """Contributions of the current laws of every State, by instrument, jurisdiction and article."""

    def __init__(self, catalogue: Mapping[str, Instrument]) -> None:
        self.catalogue = catalogue
        self.laws: dict[RecordKey, tuple[int, str | None, Contributions]] = {}
        # instrument → jurisdiction → article → record key → evidence
        self.cells: dict[str, dict[str, dict[str, dict[RecordKey, list[Evidence]]]]] = {}
        # jurisdiction → instrument → its cells, until a law of that jurisdiction changes
        self._states: dict[str, dict[str, dict[str, Cell]]] = {}

    def apply(self, version: RecordVersion) -> None:
        """Take a law version into account (a later one replaces an earlier; an older one is ignored)."""
        held = self.laws.get(version.key)
        if held is not None and held[0] >= version.version:
            return
        if held is not None:
            self._remove(version.key, held[1], held[2])
            self._forget(held[1])
        jurisdiction = version.content.get("jurisdiction") if isinstance(version.content, dict) else None
        found = contributions(version, self.catalogue)
        self.laws[version.key] = (version.version, jurisdiction, found)
        if jurisdiction is None:
            return
        self._forget(jurisdiction)
        for (instrument, article), evidence in found.items():
            by_state = self.cells.setdefault(instrument, {}).setdefault(jurisdiction, {})
            by_state.setdefault(article, {})[version.key] = evidence

    def _remove(self, key: RecordKey, jurisdiction: str | None, found: Contributions) -> None:
        if jurisdiction is None:
            return
        for instrument, article in found:
            by_article = self.cells.get(instrument, {}).get(jurisdiction, {}).get(article)
            if by_article is not None:
                by_article.pop(key, None)

    def _forget(self, jurisdiction: str | None) -> None:
        if jurisdiction is not None:
            self._states.pop(jurisdiction, None)

    def jurisdictions(self) -> set[str]:
        """Every State with a current law (withdrawn ones aside)."""
        return {j for _, j, _ in self.laws.values() if j is not None}

    def state(self, instrument: Instrument, jurisdiction: str) -> dict[str, Cell]:
        """The cells of one State for one instrument (kept until a law of that State changes)."""
        cached = self._states.get(jurisdiction, {}).get(instrument.id)
        if cached is not None:
            return cached
        by_article = self.cells.get(instrument.id, {}).get(jurisdiction, {})
        cells = {
            a.number: cell_of(e for evidence in by_article.get(a.number, {}).values() for e in evidence)
            for a in instrument.articles
        }
        self._states.setdefault(jurisdiction, {})[instrument.id] = cells
        return cells


async def laws_as_of(audit: Audit, seq: int) -> list[RecordVersion]:
    """The law versions that were current at feed position ``seq`` (withdrawals included)."""
    latest: dict[RecordKey, RecordVersion] = {}
    after = 0
    while after < seq:
        page = await audit.all_versions(after_seq=after, limit=_PAGE)
        for version in page:
            if version.seq > seq:
                return list(latest.values())
            if version.key.kind == "law":
                latest[version.key] = public_view(version)
        if len(page) < _PAGE:
            break
        after = page[-1].seq
    return list(latest.values())


#: Law versions taken in at once after which the objects alive are frozen (see :meth:`CoverageIndex.current`).
_FREEZE_AFTER = 1000


class CoverageIndex:
    """The live :class:`Coverage`, brought up to the feed's head before each read."""

    def __init__(self, catalogue: Mapping[str, Instrument]) -> None:
        self.coverage = Coverage(catalogue)
        self.seq = 0
        self._lock = asyncio.Lock()

    async def current(self, feeds: Feeds) -> tuple[Coverage, int]:
        """The coverage as of the feed's head now, and that head."""
        head = await feeds.last_seq()
        if head <= self.seq:
            return self.coverage, self.seq
        async with self._lock:
            applied = 0
            while self.seq < head:
                changes = await feeds.list_changes(
                    ChangeQuery(since=self.seq, limit=_PAGE, kinds=("law",), include_content=True)
                )
                for change in changes:
                    self.coverage.apply(change_version(change))
                applied += len(changes)
                if len(changes) < _PAGE:
                    self.seq = head
                else:
                    self.seq = changes[-1].seq
            if applied >= _FREEZE_AFTER:
                # A large catch-up (start-up, or a burst) left many long-lived objects: move everything
                # alive now out of the garbage collector's full passes, which would otherwise scan them
                # all again and again (pauses of seconds at 100,000 laws) and find nothing to free.
                gc.freeze()
        return self.coverage, self.seq


def public_view(version: RecordVersion) -> RecordVersion:
    """The version as coverage counts it: coverage is public, so a version not everyone may see counts as
    if the record had been withdrawn (the public sees no current text of it)."""
    if version.visibility == "public":
        return version
    return dataclasses.replace(version, action="withdraw", content=None)


def change_version(change: Any) -> RecordVersion:
    """A feed change as the record version it made (the fields coverage reads); see :func:`public_view`."""
    public = change.visibility == "public"
    return RecordVersion(
        key=change.key,
        version=change.version,
        action=change.action if public else "withdraw",
        schema=None,
        content=change.content if public else None,
        submission_id=change.submission_id,
        kid=change.kid,
        jws_sha256="",
        received_at=change.received_at,
        accepted_at=change.received_at,
        log_index=change.log_index,
        seq=change.seq,
    )


async def coverage_as_of(audit: Audit, catalogue: Mapping[str, Instrument], seq: int) -> Coverage:
    coverage = Coverage(catalogue)
    for version in sorted(await laws_as_of(audit, seq), key=lambda v: v.seq):
        coverage.apply(version)
    return coverage


def matrix(
    coverage: Coverage,
    instrument: Instrument,
    states: Sequence[str],
    names: Mapping[str, str] | None = None,
    treaties: Mapping[tuple[str, str], dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """One row per State: its cells (article → status), how many of each, and its dated treaty status."""
    rows = []
    for jurisdiction in states:
        cells = coverage.state(instrument, jurisdiction)
        counts = dict.fromkeys(STATUSES, 0)
        for cell in cells.values():
            counts[cell.status] += 1
        rows.append(
            {
                "jurisdiction": jurisdiction,
                **({"name": names.get(jurisdiction, jurisdiction)} if names is not None else {}),
                "cells": {number: cell.status for number, cell in cells.items()},
                "counts": counts,
                "treaty_status": (treaties or {}).get((instrument.id, jurisdiction)),
            }
        )
    return rows
