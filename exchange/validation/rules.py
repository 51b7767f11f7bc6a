"""Rules beyond the JSON Schema: vocabulary terms, convention articles, country and area codes.

They read only values of the expected type, so a record that failed its schema is checked as far as
it can be and never makes them raise. This runs for every submission, so the loops collect misses
and build no pointer or message unless they find a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exchange.validation.fields import BY_KIND, JURISDICTION, TermField
from exchange.validation.issues import Issue
from exchange.validation.terms import INSTRUMENTS, CountryIndex, TermIndex

# Where a value sits: a member of the record, or a member of the index-th object of a list member.
_At = tuple[str, int] | None
# A problem found, before its pointer and message are built: (check, where, member, index, value,
# context), the context being the expected vocabulary of a term or the instrument of an article.
_Miss = tuple[str, _At, str, int, str, str]


@dataclass(frozen=True, slots=True)
class RecordRules:
    """Checks a record's terms, instrument articles, countries and areas against the catalogue."""

    terms: TermIndex
    countries: CountryIndex

    def check(self, kind: str, record: Mapping[str, Any], prefix: str) -> list[Issue]:
        """Every rule issue in ``record`` of ``kind``, with pointers under ``prefix`` (e.g. ``/record``)."""
        fields = BY_KIND.get(kind)
        if fields is None:
            return []
        misses: list[_Miss] = []
        self._terms(record, fields.terms, None, misses)
        for list_name, term_fields in fields.nested_terms:
            for index, item in _objects(record.get(list_name)):
                self._terms(item, term_fields, (list_name, index), misses)
        for name in fields.instrument_refs:
            self._instrument_refs(record.get(name), None, misses)
        for list_name in fields.nested_instrument_refs:
            for index, item in _objects(record.get(list_name)):
                self._instrument_refs(item.get("instrument_refs"), (list_name, index), misses)
        regions_of = self.countries.regions_of
        jurisdiction = record.get(JURISDICTION)
        if isinstance(jurisdiction, str) and jurisdiction not in regions_of:
            misses.append(("country", None, JURISDICTION, -1, jurisdiction, ""))
        for name in fields.countries:
            _codes(record.get(name), None, name, regions_of, "country", misses)
        for list_name, name in fields.nested_countries:
            for index, item in _objects(record.get(list_name)):
                _codes(item.get(name), (list_name, index), name, regions_of, "country", misses)
        for name in fields.areas:
            _codes(record.get(name), None, name, self.countries.areas, "area", misses)
        return [self._issue(miss, prefix) for miss in misses]

    def _terms(
        self, owner: Mapping[str, Any], term_fields: tuple[TermField, ...], at: _At, misses: list[_Miss]
    ) -> None:
        vocabulary_of = self.terms.vocabulary_of
        for name, vocabulary in term_fields:
            values = owner.get(name)
            if isinstance(values, list):
                for index, term in enumerate(values):
                    if isinstance(term, str) and vocabulary_of.get(term) != vocabulary:
                        misses.append(("term", at, name, index, term, vocabulary))

    def _instrument_refs(self, refs: Any, at: _At, misses: list[_Miss]) -> None:
        if not isinstance(refs, list):
            return
        articles = self.terms.articles
        for index, ref in enumerate(refs):
            if not isinstance(ref, dict):
                continue
            instrument, article = ref.get("instrument"), ref.get("article")
            if not isinstance(instrument, str):
                continue
            numbers = articles.get(instrument)
            if numbers is None and self.terms.vocabulary_of.get(instrument) != INSTRUMENTS:
                misses.append(("instrument", at, "instrument_refs", index, instrument, INSTRUMENTS))
            elif isinstance(article, str) and (numbers is None or article.partition("(")[0] not in numbers):
                misses.append(("article", at, "instrument_refs", index, article, instrument))

    def _issue(self, miss: _Miss, prefix: str) -> Issue:
        check, at, member, index, value, context = miss
        pointer = prefix if at is None else f"{prefix}/{at[0]}/{at[1]}"
        pointer = f"{pointer}/{member}" if index < 0 else f"{pointer}/{member}/{index}"
        if check == "term":
            found = self.terms.vocabulary_of.get(value)
            if found is None:
                message = f'"{value}" is not a term of the {context} vocabulary.'
            else:
                message = f'"{value}" is a term of the {found} vocabulary, not of {context}.'
            return Issue(pointer, "vocabulary:unknown-term", message)
        if check == "instrument":
            return Issue(f"{pointer}/instrument", "vocabulary:unknown-term", f'"{value}" is not a known instrument.')
        if check == "article":
            if context not in self.terms.articles:
                message = f'Article "{value}" cannot be referenced: the articles of {context} are not catalogued.'
            else:
                message = f'"{value}" is not an article of {context}.'
            return Issue(f"{pointer}/article", "instrument:unknown-article", message)
        if check == "country":
            return Issue(pointer, "country:unknown", f'"{value}" is not an ISO 3166-1 alpha-3 country code.')
        return Issue(pointer, "region:unknown", f'"{value}" is not a UN M49 area code.')


def _codes(
    values: Any, at: _At, name: str, known: Mapping[str, Any] | frozenset[str], check: str, misses: list[_Miss]
) -> None:
    if isinstance(values, list):
        for index, code in enumerate(values):
            if isinstance(code, str) and code not in known:
                misses.append((check, at, name, index, code, ""))


def _objects(values: Any) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(values, list):
        return []
    return [(index, value) for index, value in enumerate(values) if isinstance(value, dict)]
