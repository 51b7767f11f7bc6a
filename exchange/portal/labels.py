"""Names of things in the reader's language: vocabulary terms, instruments and their articles,
enumerated values, countries and regions.

Labels are language maps (``{"en": …, "fr": …}``) in ``schemas/vocabularies.json`` and
``schemas/countries.json``. A label missing in the reader's language falls back to English, and a label
written by machine rather than taken from an official text (listed in the object's ``label_machine``
or ``title_machine``) is marked as such, so the page can say so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

FALLBACK = "en"


@dataclass(frozen=True, slots=True)
class Label:
    """A name as shown: its text, the language it is in, and whether a machine wrote it."""

    text: str
    lang: str
    machine: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Article:
    instrument: str
    number: str
    chapter: str | None
    title: Mapping[str, str]
    machine: frozenset[str]
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Instrument:
    id: str
    label: Mapping[str, str]
    short_label: Mapping[str, str]
    machine: frozenset[str]
    entry: Mapping[str, Any]
    articles: tuple[Article, ...]

    def article(self, number: str) -> Article | None:
        return next((a for a in self.articles if a.number == number), None)


def pick(names: Mapping[str, str] | None, lang: str, machine: frozenset[str] = frozenset()) -> Label:
    """The name in ``lang``, else in English, else in any language; empty when there is none."""
    names = names or {}
    for code in (lang, FALLBACK):
        text = names.get(code)
        if text:
            return Label(text, code, code in machine)
    for code, text in names.items():
        if text:
            return Label(text, code, code in machine)
    return Label("", lang)


def _machine(entry: Mapping[str, Any], name: str) -> frozenset[str]:
    value = entry.get(f"{name}_machine")
    return frozenset(value) if isinstance(value, list) else frozenset()


class Labels:
    """Every name the portal shows, read once from the vocabularies and countries documents."""

    def __init__(self, vocabularies: Mapping[str, Any], countries: Mapping[str, Any]) -> None:
        self._terms: dict[str, tuple[Mapping[str, str], frozenset[str]]] = {}
        self.vocabulary_of: dict[str, str] = {}
        for key, vocabulary in vocabularies.get("vocabularies", {}).items():
            for term in vocabulary.get("terms", []):
                self._terms[term["id"]] = (term.get("label", {}), _machine(term, "label"))
                self.vocabulary_of[term["id"]] = key
        self._enums: dict[tuple[str, str], tuple[Mapping[str, str], frozenset[str]]] = {}
        for name, values in vocabularies.get("enumerations", {}).items():
            for value in values:
                self._enums[(name, value["id"])] = (value.get("label", {}), _machine(value, "label"))
        self.instruments: dict[str, Instrument] = {}
        for entry in vocabularies.get("instruments", []):
            articles = tuple(
                Article(
                    entry["id"],
                    str(a["number"]),
                    a.get("chapter"),
                    a.get("title", {}),
                    _machine(a, "title"),
                    tuple(a.get("terms", ())),
                )
                for a in entry.get("articles", [])
            )
            self.instruments[entry["id"]] = Instrument(
                entry["id"],
                entry.get("label", {}),
                entry.get("short_label") or entry.get("label", {}),
                _machine(entry, "label"),
                entry,
                articles,
            )
        self.vocabulary_titles = {key: v.get("title", key) for key, v in vocabularies.get("vocabularies", {}).items()}
        self._countries: dict[str, Mapping[str, Any]] = dict(countries.get("countries", {}))
        self._regions: dict[str, Mapping[str, Any]] = dict(countries.get("regions", {}))

    def term(self, term_id: str, lang: str) -> Label:
        names, machine = self._terms.get(term_id, ({}, frozenset()))
        label = pick(names, lang, machine)
        return label if label.text else Label(term_id, FALLBACK)

    def enum(self, enumeration: str, value: str, lang: str) -> Label:
        names, machine = self._enums.get((enumeration, value), ({}, frozenset()))
        label = pick(names, lang, machine)
        return label if label.text else Label(value.replace("_", " "), FALLBACK)

    def instrument(self, instrument_id: str, lang: str, short: bool = True) -> Label:
        found = self.instruments.get(instrument_id)
        if found is None:
            return Label(instrument_id, FALLBACK)
        return pick(found.short_label if short else found.label, lang, found.machine)

    def article(self, instrument_id: str, number: str, lang: str) -> Label:
        found = self.instruments.get(instrument_id)
        article = found.article(number.partition("(")[0]) if found else None
        if article is None:
            return Label("", lang)
        return pick(article.title, lang, article.machine)

    def country(self, iso3: str, lang: str) -> Label:
        entry = self._countries.get(iso3)
        label = pick(entry.get("name") if entry else None, lang)
        return label if label.text else Label(iso3, FALLBACK)

    def region(self, code: str, lang: str) -> Label:
        entry = self._regions.get(code)
        label = pick(entry.get("name") if entry else None, lang)
        return label if label.text else Label(code, FALLBACK)

    def is_country(self, iso3: str) -> bool:
        return iso3 in self._countries

    def country_regions(self, iso3: str) -> tuple[str, ...]:
        entry = self._countries.get(iso3)
        return tuple(entry.get("regions", ())) if entry else ()

    def top_regions(self) -> Iterator[str]:
        """The UN M49 regions (Africa, Americas, Asia, Europe, Oceania), in code order."""
        for code, entry in sorted(self._regions.items()):
            if entry.get("level") == "region":
                yield code
