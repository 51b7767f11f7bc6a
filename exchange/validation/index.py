"""What the repository indexes of a record for queries: places, tags, status, title, text and date."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from exchange.identifiers import document_ids
from exchange.validation.fields import BY_KIND, JURISDICTION, TAG_VOCABULARIES, KindFields
from exchange.validation.terms import INSTRUMENTS, CountryIndex, TermIndex


@dataclass(frozen=True, slots=True)
class IndexFields:
    """The query fields of a record.

    ``jurisdictions``: ISO 3166-1 alpha-3 codes, the primary jurisdiction first, then the other countries
    named (countries involved in a case, countries a lesson covers), each once.
    ``regions``: UN M49 region, sub-region and intermediate-region codes of those countries, then the
    areas a lesson names, each once.
    ``tags``: every subject term used anywhere in the record (offences, liability and jurisdiction,
    procedural powers, cooperation mechanisms, lesson themes), sorted; instruments are not tags. Term
    ids are dotted paths, so a query for a broader term matches ``tag = t OR tag LIKE 't.%'``.
    ``status``: a law's legal status, a case's stage, a lesson's kind.
    ``title``: the English title if there is one (original or translation), else the original.
    ``text``: titles, summaries, headings and extracts joined by newlines, for full-text search.
    ``date``: YYYY-MM-DD. A law's adoption date (else publication, else entry into force), a case's
    decision date, a lesson's date (a partial date is completed with the first month or day).
    ``articles``: the instruments the record names or implements (``inst.coe.ets185``) and their
    articles (``inst.coe.ets185#2``): those its parts reference, and those its subject tags correspond
    to, so that records are found by convention article as the coverage analysis counts them.
    """

    jurisdictions: tuple[str, ...]
    regions: tuple[str, ...]
    tags: tuple[str, ...]
    status: str | None
    title: str
    text: str
    date: str | None
    articles: tuple[str, ...] = ()
    #: the document identifiers that make the record unique (:func:`exchange.identifiers.document_ids`)
    identifiers: tuple[str, ...] = ()


def extract(kind: str, record: Mapping[str, Any], terms: TermIndex, countries: CountryIndex) -> IndexFields:
    """The index fields of a record of ``kind`` (tolerant of missing or ill-typed members)."""
    fields = BY_KIND[kind]
    jurisdictions = _jurisdictions(record, fields)
    regions: dict[str, None] = {}
    for code in jurisdictions:
        regions.update(dict.fromkeys(countries.regions_of.get(code, ())))
    for name in fields.areas:
        regions.update(dict.fromkeys(_string_list(record.get(name))))
    status = record.get(fields.status)
    return IndexFields(
        jurisdictions=jurisdictions,
        regions=tuple(regions),
        tags=_tags(record, fields, terms),
        status=status if isinstance(status, str) else None,
        title=_title(record.get("title")),
        text="\n".join(_texts(record, fields)),
        date=_date(record, fields),
        articles=_articles(record, fields, terms),
        identifiers=document_ids(record),
    )


def _articles(record: Mapping[str, Any], fields: KindFields, terms: TermIndex) -> tuple[str, ...]:
    found: set[str] = set()
    refs: list[Any] = []
    for name in fields.instrument_refs:
        refs.extend(_objects(record.get(name)))
    for list_name in fields.nested_instrument_refs:
        for item in _objects(record.get(list_name)):
            refs.extend(_objects(item.get("instrument_refs")))
    for ref in refs:
        instrument, article = ref.get("instrument"), ref.get("article")
        if isinstance(instrument, str) and isinstance(article, str):
            found.add(f"{instrument}#{article.partition('(')[0]}")
    for name, vocabulary in fields.terms:
        if vocabulary == INSTRUMENTS:
            found.update(_string_list(record.get(name)))
    for tag in _tags(record, fields, terms):
        found.update(terms.term_articles.get(tag, ()))
    found.update({entry.partition("#")[0] for entry in found})
    return tuple(sorted(found))


def _jurisdictions(record: Mapping[str, Any], fields: KindFields) -> tuple[str, ...]:
    found: dict[str, None] = {}
    primary = record.get(JURISDICTION)
    if isinstance(primary, str):
        found[primary] = None
    for name in fields.countries:
        found.update(dict.fromkeys(_string_list(record.get(name))))
    return tuple(found)


def _tags(record: Mapping[str, Any], fields: KindFields, terms: TermIndex) -> tuple[str, ...]:
    used: set[str] = set()
    for name, _ in fields.terms:
        used.update(_string_list(record.get(name)))
    for list_name, term_fields in fields.nested_terms:
        for item in _objects(record.get(list_name)):
            for name, _ in term_fields:
                used.update(_string_list(item.get(name)))
    vocabulary_of = terms.vocabulary_of
    return tuple(sorted(term for term in used if vocabulary_of.get(term, "") in TAG_VOCABULARIES))


def _title(title: Any) -> str:
    if not isinstance(title, dict):
        return ""
    original = title.get("original")
    texts = [original] if isinstance(original, dict) else []
    texts += _objects(title.get("translations"))
    for text in texts:
        lang, value = text.get("lang"), text.get("text")
        if isinstance(lang, str) and isinstance(value, str) and lang.split("-")[0].lower() == "en":
            return value
    value = original.get("text") if isinstance(original, dict) else None
    return value if isinstance(value, str) else ""


def _texts(record: Mapping[str, Any], fields: KindFields) -> Iterator[str]:
    for name in fields.texts:
        yield from _strings_in(record.get(name))
    for list_name, names in fields.nested_texts:
        for item in _objects(record.get(list_name)):
            for name in names:
                yield from _strings_in(item.get(name))


def _strings_in(value: Any) -> Iterator[str]:
    """The text of a plain string, a language-tagged text, a text with translations, or a list of them."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)
    elif isinstance(value, dict):
        if isinstance(value.get("text"), str):
            yield value["text"]
        yield from _strings_in(value.get("original"))
        yield from _strings_in(value.get("translations"))


def _date(record: Mapping[str, Any], fields: KindFields) -> str | None:
    for path in fields.date:
        value: Any = record
        for name in path.split("."):
            value = value.get(name) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return _complete(value)
    return None


def _complete(date: str) -> str:
    """Complete a partial date: ``2009`` → ``2009-01-01``, ``2009-04`` → ``2009-04-01``."""
    return date + "-01-01"[len(date) - 4 :] if len(date) in (4, 7) else date


def _string_list(values: Any) -> list[str]:
    return [value for value in values if isinstance(value, str)] if isinstance(values, list) else []


def _objects(values: Any) -> list[dict[str, Any]]:
    return [value for value in values if isinstance(value, dict)] if isinstance(values, list) else []
