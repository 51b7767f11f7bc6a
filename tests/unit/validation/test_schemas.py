"""The schema package: meta-schema validity, stable ids, self-documentation, vocabularies, countries, examples."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from exchange import identifiers
from exchange.identifiers import KINDS, is_record_id
from exchange.validation.catalogue import SCHEMA_ID_BASE, Catalogue
from tests.support import examples, reference_missing

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
SCHEMA_FILES = ("defs/1", "submission/1", "law/1", "case/1", "lesson/1", "need/1", "assistance/1")
TERM_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
UN_LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.from_package()


@pytest.fixture(scope="module")
def registry(catalogue: Catalogue) -> Registry[Any]:
    return Registry().with_resources(
        (document["$id"], Resource.from_contents(document, default_specification=DRAFT202012))
        for document in catalogue.schemas.values()
    )


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


@pytest.mark.parametrize(
    ("definition", "pattern"),
    [
        ("participant", identifiers.PARTICIPANT_ID_PATTERN),
        ("record_id", identifiers.RECORD_ID_PATTERN),
        ("record_ref", identifiers.RECORD_KEY_PATTERN),
        ("uuid", identifiers.UUID_PATTERN),
    ],
)
def test_identifier_patterns_are_the_ones_the_code_checks(catalogue: Catalogue, definition: str, pattern: str) -> None:
    assert catalogue.schemas["defs/1"]["$defs"][definition]["pattern"] == pattern


def test_catalogue_holds_every_schema(catalogue: Catalogue) -> None:
    assert set(catalogue.schemas) == set(SCHEMA_FILES)
    assert catalogue.record_schemas == ("assistance/1", "case/1", "law/1", "lesson/1", "need/1")


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_passes_the_2020_12_meta_schema(catalogue: Catalogue, name: str) -> None:
    document = catalogue.schemas[name]
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


def test_ids_are_stable_and_unique(catalogue: Catalogue) -> None:
    ids = [document["$id"] for document in catalogue.schemas.values()]
    assert len(set(ids)) == len(ids)
    for name, document in catalogue.schemas.items():
        assert document["$id"] == SCHEMA_ID_BASE + name


def test_references_use_the_stable_ids(catalogue: Catalogue, registry: Registry[Any]) -> None:
    for name, document in catalogue.schemas.items():
        resolver = registry.resolver(base_uri=document["$id"])
        for node in walk(document):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith(("#/$defs/", SCHEMA_ID_BASE + "defs/1#/$defs/")), (name, ref)
                resolver.lookup(ref)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_every_field_is_documented(catalogue: Catalogue, name: str) -> None:
    defs = catalogue.schemas["defs/1"]["$defs"]
    document = catalogue.schemas[name]
    conditions = [id(node["if"]) for node in walk(document) if "if" in node]
    for node in walk(document):
        properties = node.get("properties")
        if not isinstance(properties, dict) or id(node) in conditions:
            continue
        for field, subschema in properties.items():
            if subschema is False:
                continue  # a member forbidden in this branch (a review decision carries no record)
            target = subschema
            ref = subschema.get("$ref", "")
            if ref and "description" not in subschema:
                target = defs[ref.rpartition("/")[2]]
            assert target.get("description"), f"{name}: {field} lacks a description"


@pytest.mark.parametrize("name", ["law/1", "case/1", "lesson/1", "submission/1"])
def test_objects_are_closed(catalogue: Catalogue, name: str) -> None:
    for node in walk(catalogue.schemas[name]):
        if node.get("type") == "object" and "properties" in node and node is not catalogue.schemas[name]:
            assert node.get("additionalProperties") is False
    assert catalogue.schemas[name]["additionalProperties"] is False


ENUM_FIELDS = {
    "legal_status": ("defs/1", "/$defs/legal_status"),
    "legal_system": ("defs/1", "/$defs/legal_system"),
    "identifier_scheme": ("defs/1", "/$defs/identifier/properties/scheme"),
    "source_kind": ("defs/1", "/$defs/source/properties/kind"),
    "document_type": ("law/1", "/properties/document_type"),
    "relation_type": ("law/1", "/properties/relations/items/properties/type"),
    "case_type": ("case/1", "/properties/case_type"),
    "case_stage": ("case/1", "/properties/stage"),
    "charge_outcome": ("case/1", "/properties/charges/items/properties/outcome"),
    "defendant_type": ("case/1", "/properties/defendants/items/properties/type"),
    "related_case_relation": ("case/1", "/properties/related_cases/items/properties/relation"),
    "lesson_kind": ("lesson/1", "/properties/kind"),
    "institution": ("need/1", "/properties/institutions/items"),
    "need_priority": ("need/1", "/properties/priority"),
    "need_status": ("need/1", "/properties/status"),
    "need_source": ("need/1", "/properties/source/properties/type"),
    "assistance_type": ("assistance/1", "/properties/types/items"),
    "assistance_status": ("assistance/1", "/properties/status"),
    "provider_role": ("assistance/1", "/properties/providers/items/properties/role"),
}


@pytest.mark.parametrize(("enumeration", "location"), sorted(ENUM_FIELDS.items()))
def test_schema_enums_match_the_vocabularies(catalogue: Catalogue, enumeration: str, location: tuple[str, str]) -> None:
    node: Any = catalogue.schemas[location[0]]
    for token in location[1].strip("/").split("/"):
        node = node[token]
    listed = [entry["id"] for entry in catalogue.vocabularies["enumerations"][enumeration]]
    assert node["enum"] == listed
    assert all(entry["label"]["en"] for entry in catalogue.vocabularies["enumerations"][enumeration])


def test_vocabulary_terms_are_unique_and_well_formed(catalogue: Catalogue) -> None:
    vocabularies = catalogue.vocabularies
    ids = [term["id"] for v in vocabularies["vocabularies"].values() for term in v["terms"]]
    ids += [instrument["id"] for instrument in vocabularies["instruments"]]
    assert len(ids) == len(set(ids))
    assert all(TERM_ID.match(term) and term.isascii() for term in ids)
    for vocabulary in vocabularies["vocabularies"].values():
        own = {term["id"] for term in vocabulary["terms"]}
        for term in vocabulary["terms"]:
            assert term["label"]["en"]
            assert term.get("broader", term["id"]) in own


def test_crosswalk_names_catalogued_articles_both_ways(catalogue: Catalogue) -> None:
    vocabularies = catalogue.vocabularies
    articles = {
        instrument["id"]: {article["number"]: set(article.get("terms", [])) for article in instrument["articles"]}
        for instrument in vocabularies["instruments"]
        if "articles" in instrument
    }
    assert set(articles) == {instrument["id"] for instrument in vocabularies["instruments"]}
    assert all(i.get("source") or i.get("source_title") for i in vocabularies["instruments"] if i.get("articles"))
    assert {"5", "6", "10", "15", "16", "18", "19", "20", "27", "29"} <= set(articles["inst.un.untoc"])
    assert len(articles["inst.coe.ets185"]) == 48
    assert len(articles["inst.un.uncc2024"]) == 68
    pairs = set()
    for vocabulary in vocabularies["vocabularies"].values():
        for term in vocabulary["terms"]:
            for instrument, numbers in term.get("articles", {}).items():
                for number in numbers:
                    base = re.match(r"[0-9]+", number)
                    assert base is not None
                    assert base.group(0) in articles[instrument], (term["id"], number)
                    pairs.add((instrument, base.group(0), term["id"]))
    listed = {(i, n, t) for i, by_number in articles.items() for n, terms in by_number.items() for t in terms}
    assert pairs == listed
    assert ("inst.coe.ets185", "2", "off.cia.illegal_access") in pairs
    assert ("inst.un.uncc2024", "7", "off.cia.illegal_access") in pairs


def test_languages_are_the_six_with_labels(catalogue: Catalogue) -> None:
    languages = catalogue.vocabularies["languages"]
    assert [language["id"] for language in languages] == list(UN_LANGUAGES)
    for language in languages:
        assert set(language["label"]) == set(UN_LANGUAGES)
        assert language["dir"] in ("ltr", "rtl")


def test_countries_and_regions(catalogue: Catalogue) -> None:
    countries = catalogue.countries["countries"]
    regions = catalogue.countries["regions"]
    assert len(countries) == 249
    for iso3, entry in countries.items():
        assert re.fullmatch(r"[A-Z]{3}", iso3)
        assert re.fullmatch(r"[0-9]{3}", entry["m49"])
        assert all(code in regions for code in entry["regions"])
        assert entry["name"]["en"]
    assert countries["ZAF"]["regions"] == ["002", "202", "018"]
    assert countries["ZAF"]["name"]["fr"] == "Afrique du Sud"
    assert countries["ATA"]["regions"] == []
    for code, region in regions.items():
        assert region.get("parent", "001") in regions, code


def test_countries_agree_with_the_reference_table(catalogue: Catalogue) -> None:
    if not SHARED_DATA.is_dir():
        reference_missing(f"{SHARED_DATA} is absent")
    with (SHARED_DATA / "countries_m49_un6.csv").open(encoding="utf-8") as handle:
        rows = {row["iso3"]: row for row in csv.DictReader(handle)}
    countries = catalogue.countries["countries"]
    assert set(rows) == set(countries)
    for iso3, row in rows.items():
        assert countries[iso3]["m49"] == row["m49"]
        assert countries[iso3]["name"]["zh"] == row["name_zh"]


def test_vocabulary_ids_agree_with_the_reference_taxonomy(catalogue: Catalogue) -> None:
    if not SHARED_DATA.is_dir():
        reference_missing(f"{SHARED_DATA} is absent")
    reference = json.loads((SHARED_DATA / "taxonomy" / "vocabularies.json").read_text(encoding="utf-8"))
    for key, vocabulary in catalogue.vocabularies["vocabularies"].items():
        assert [term["id"] for term in vocabulary["terms"]] == [term["id"] for term in reference[key]]


def test_there_are_at_least_three_examples_per_kind() -> None:
    counts: dict[str, int] = {}
    for kind, record_id, _ in examples():
        assert is_record_id(record_id)
        counts[kind] = counts.get(kind, 0) + 1
    assert counts.keys() == set(KINDS)
    assert min(counts.values()) >= 3


@pytest.mark.parametrize(("kind", "record_id", "record"), list(examples()), ids=lambda value: str(value)[:40])
def test_example_is_valid_for_pure_jsonschema(
    catalogue: Catalogue, registry: Registry[Any], kind: str, record_id: str, record: Any
) -> None:
    validator = jsonschema.Draft202012Validator(catalogue.schemas[f"{kind}/1"], registry=registry)
    assert [error.message for error in validator.iter_errors(record)] == []


def labelled(catalogue: Catalogue) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every object of the vocabularies that carries a language map, with the name of that map."""
    document = catalogue.vocabularies
    for key, vocabulary in document["vocabularies"].items():
        for term in vocabulary["terms"]:
            yield f"{key}/{term['id']}", term, "label"
    for instrument in document["instruments"]:
        yield instrument["id"], instrument, "label"
        if "short_label" in instrument:
            yield f"{instrument['id']} (short)", instrument, "short_label"
        for chapter in instrument.get("chapters", []):
            yield f"{instrument['id']} chapter {chapter['number']}", chapter, "title"
        for article in instrument.get("articles", []):
            yield f"{instrument['id']} article {article['number']}", article, "title"
    for name, values in document["enumerations"].items():
        for value in values:
            yield f"{name}/{value['id']}", value, "label"


def test_every_label_is_in_the_six_languages_and_machine_texts_are_marked(catalogue: Catalogue) -> None:
    for where, item, field in labelled(catalogue):
        names = item[field]
        assert all(isinstance(names.get(lang), str) and names[lang].strip() for lang in UN_LANGUAGES), where
        machine = item.get(f"{field}_machine", [])
        assert set(machine) <= set(UN_LANGUAGES) - {"en"}, where
