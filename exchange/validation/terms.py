"""Lookups over the vocabularies document: which vocabulary a term belongs to, which articles exist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The vocabulary key under which instruments are indexed.
INSTRUMENTS = "instruments"


@dataclass(frozen=True, slots=True)
class TermIndex:
    """``vocabulary_of`` maps every term id (instruments included) to its vocabulary key;
    ``articles`` maps each instrument whose articles are catalogued to its article numbers.

    A reference such as ``"19(4)"`` names article ``"19"``; only catalogued articles may be referenced.
    """

    vocabulary_of: Mapping[str, str]
    articles: Mapping[str, frozenset[str]]
    #: term → the articles it corresponds to, as ``instrument#number``
    term_articles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> TermIndex:
        vocabulary_of: dict[str, str] = {}
        term_articles: dict[str, tuple[str, ...]] = {}
        for key, vocabulary in document["vocabularies"].items():
            for term in vocabulary["terms"]:
                vocabulary_of[term["id"]] = key
                mapped = term.get("articles", {})
                term_articles[term["id"]] = tuple(f"{i}#{n}" for i, numbers in mapped.items() for n in numbers)
        articles: dict[str, frozenset[str]] = {}
        for instrument in document["instruments"]:
            vocabulary_of[instrument["id"]] = INSTRUMENTS
            if "articles" in instrument:
                articles[instrument["id"]] = frozenset(a["number"] for a in instrument["articles"])
        return cls(vocabulary_of=vocabulary_of, articles=articles, term_articles=term_articles)


@dataclass(frozen=True, slots=True)
class CountryIndex:
    """ISO 3166-1 alpha-3 codes with their UN M49 areas, and the set of known M49 area codes."""

    regions_of: Mapping[str, tuple[str, ...]]
    areas: frozenset[str]
    #: Each area's name in every language the table gives, case-folded, to its M49 code.
    area_names: Mapping[str, str]

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> CountryIndex:
        regions_of = {iso3: tuple(entry["regions"]) for iso3, entry in document["countries"].items()}
        names = {
            name.casefold(): code
            for code, entry in document["regions"].items()
            for name in entry.get("name", {}).values()
        }
        return cls(regions_of=regions_of, areas=frozenset(document["regions"]), area_names=names)

    def area(self, text: str) -> str | None:
        """The M49 code of an area given by its code or its name (any language, any case); None if unknown."""
        return text if text in self.areas else self.area_names.get(text.strip().casefold())
