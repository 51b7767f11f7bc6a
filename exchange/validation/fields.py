"""Where each kind of record keeps its jurisdiction, vocabulary terms, country codes and texts.

The rules and the index extraction read records through these declarations, so a new field is added
in one place. A "nested" entry names a list of objects and the fields of each object.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange.validation.terms import INSTRUMENTS

TermField = tuple[str, str]  # (field holding a list of term ids, vocabulary key)

_TAGS: tuple[TermField, ...] = (
    ("offence_categories", "offence_categories"),
    ("ancillary_and_jurisdiction", "ancillary_and_jurisdiction"),
    ("procedural_powers", "procedural_powers"),
    ("cooperation_mechanisms", "cooperation_mechanisms"),
)

#: Vocabularies whose terms are subject tags (indexed as ``tags``); instruments are not tags.
TAG_VOCABULARIES = frozenset(
    {
        "offence_categories",
        "ancillary_and_jurisdiction",
        "procedural_powers",
        "cooperation_mechanisms",
        "lesson_themes",
    }
)


@dataclass(frozen=True, slots=True)
class KindFields:
    """The fields of one record kind that the rules and the index read."""

    terms: tuple[TermField, ...]
    nested_terms: tuple[tuple[str, tuple[TermField, ...]], ...]
    nested_instrument_refs: tuple[str, ...]
    instrument_refs: tuple[str, ...]
    countries: tuple[str, ...]
    nested_countries: tuple[tuple[str, str], ...]
    areas: tuple[str, ...]
    status: str
    date: tuple[str, ...]
    texts: tuple[str, ...]
    nested_texts: tuple[tuple[str, tuple[str, ...]], ...]


#: The primary jurisdiction field, the same in every kind.
JURISDICTION = "jurisdiction"

LAW = KindFields(
    terms=(*_TAGS, ("instruments_implemented", INSTRUMENTS)),
    nested_terms=(("provisions", _TAGS),),
    nested_instrument_refs=("provisions",),
    instrument_refs=(),
    countries=(),
    nested_countries=(),
    areas=(),
    status="status",
    date=("dates.adopted", "dates.published", "dates.entry_into_force"),
    texts=("title", "summary", "citation"),
    nested_texts=(("provisions", ("heading", "text")),),
)

CASE = KindFields(
    terms=_TAGS,
    nested_terms=(("charges", (("offence_categories", "offence_categories"),)),),
    nested_instrument_refs=(),
    instrument_refs=(),
    countries=("countries_involved",),
    nested_countries=(("defendants", "nationalities"),),
    areas=(),
    status="stage",
    date=("decision_date",),
    texts=(
        "title",
        "court",
        "case_number",
        "citation",
        "facts",
        "outcome",
        "significant_features",
        "keywords",
    ),
    nested_texts=(("charges", ("provision",)),),
)

LESSON = KindFields(
    terms=(("themes", "lesson_themes"), *_TAGS),
    nested_terms=(("technical_assistance_needs", (("themes", "lesson_themes"),)),),
    nested_instrument_refs=(),
    instrument_refs=(),
    countries=("countries",),
    nested_countries=(),
    areas=("regions",),
    status="kind",
    date=("date",),
    texts=("title", "summary", "recommendations", "keywords"),
    nested_texts=(("technical_assistance_needs", ("description",)),),
)

NEED = KindFields(
    terms=(("themes", "lesson_themes"), *_TAGS),
    nested_terms=(),
    nested_instrument_refs=(),
    instrument_refs=("instrument_refs",),
    countries=(),
    nested_countries=(),
    areas=(),
    status="status",
    date=("dates.identified", "dates.requested"),
    texts=("title", "description", "keywords"),
    nested_texts=(),
)

ASSISTANCE = KindFields(
    terms=(("themes", "lesson_themes"), *_TAGS),
    nested_terms=(),
    nested_instrument_refs=(),
    instrument_refs=("instrument_refs",),
    countries=("beneficiaries",),
    nested_countries=(),
    areas=("regions",),
    status="status",
    date=("dates.actual_start", "dates.planned_start"),
    texts=("title", "description", "outputs", "keywords"),
    nested_texts=(("providers", ("name",)),),
)

BY_KIND: dict[str, KindFields] = {"law": LAW, "case": CASE, "lesson": LESSON, "need": NEED, "assistance": ASSISTANCE}
