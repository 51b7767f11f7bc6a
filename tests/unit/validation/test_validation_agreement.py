"""jsonschema (the reference implementation) and jsonschema_rs (the hot path) agree on every verdict.

For each example and each mutated record they must agree on valid or invalid and on the set of
instance locations that fail.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from exchange.validation.catalogue import Catalogue
from exchange.validation.compiled import CompiledSchemas
from tests.support import examples

Pointer = tuple[str | int, ...]
Validators = tuple[dict[str, jsonschema.Draft202012Validator], CompiledSchemas]


@pytest.fixture(scope="module")
def validators() -> Validators:
    catalogue = Catalogue.from_package()
    registry: Registry[Any] = Registry().with_resources(
        (document["$id"], Resource.from_contents(document, default_specification=DRAFT202012))
        for document in catalogue.schemas.values()
    )
    reference = {
        name: jsonschema.Draft202012Validator(document, registry=registry)
        for name, document in catalogue.schemas.items()
    }
    return reference, CompiledSchemas.compile(catalogue)


def load(kind: str, record_id: str) -> dict[str, Any]:
    item = resources.files("schemas") / "examples" / kind / f"{record_id}.json"
    loaded: dict[str, Any] = json.loads(item.read_text(encoding="utf-8"))
    return loaded


def verdicts(validators: Validators, schema: str, instance: Any) -> tuple[set[Pointer], set[Pointer]]:
    reference, compiled = validators
    python = {tuple(error.absolute_path) for error in reference[schema].iter_errors(instance)}
    validator = compiled.envelope if schema == "submission/1" else compiled.records[schema]
    rust = {tuple(error.instance_path) for error in validator.iter_errors(instance)}
    assert validator.is_valid(instance) == (not rust)
    return python, rust


@pytest.mark.parametrize(("kind", "record_id"), [(kind, record_id) for kind, record_id, _ in examples()])
def test_examples_valid_for_both(validators: Validators, kind: str, record_id: str) -> None:
    assert verdicts(validators, f"{kind}/1", load(kind, record_id)) == (set(), set())


Mutation = Callable[[dict[str, Any]], None]


def _set(path: Pointer, value: Any) -> Mutation:
    def mutate(record: dict[str, Any]) -> None:
        node: Any = record
        for token in path[:-1]:
            node = node[token]
        node[path[-1]] = value

    return mutate


def _delete(path: Pointer) -> Mutation:
    def mutate(record: dict[str, Any]) -> None:
        node: Any = record
        for token in path[:-1]:
            node = node[token]
        del node[path[-1]]

    return mutate


LAW = ("law", "zaf-cybercrimes-act-2020")
CASE = ("case", "usa-united-states-v-morris-1991")
LESSON = ("lesson", "irl-broad-definition-information-system-2017")

MUTATIONS: list[tuple[str, tuple[str, str], Mutation]] = [
    ("law without title", LAW, _delete(("title",))),
    ("law status not in enum", LAW, _set(("status",), "in_effect")),
    ("law jurisdiction lower case", LAW, _set(("jurisdiction",), "zaf")),
    ("law citation a number", LAW, _set(("citation",), 19)),
    ("law unexpected member", LAW, _set(("remarks",), "x")),
    ("provision without number", LAW, _delete(("provisions", 0, "num"))),
    ("article malformed", LAW, _set(("provisions", 0, "instrument_refs", 0, "article"), "2a)")),
    ("duplicate terms", LAW, _set(("provisions", 0, "offence_categories"), ["off.cia", "off.cia"])),
    ("term malformed", LAW, _set(("provisions", 0, "offence_categories", 0), "Off.CIA")),
    ("translation without official", LAW, _set(("title", "translations"), [{"lang": "fr", "text": "Loi"}])),
    ("impossible month", LAW, _set(("dates", "adopted"), "2021-13-01")),
    ("unknown identifier scheme", LAW, _set(("identifiers", 0, "scheme"), "doi")),
    ("source without url or title", LAW, _set(("sources", 0), {"kind": "other"})),
    ("language tag malformed", LAW, _set(("title", "original", "lang"), "english!")),
    ("empty title text", LAW, _set(("title", "original", "text"), "")),
    ("relation without target", LAW, _set(("relations",), [{"type": "amends"}])),
    ("attachment digest malformed", LAW, _set(("attachments",), [{"media_type": "text/xml", "sha256": "AB"}])),
    ("provisions not a list", LAW, _set(("provisions",), {"num": "1"})),
    ("court decision without court", CASE, _delete(("court",))),
    ("decision date unpadded", CASE, _set(("decision_date",), "1991-3-7")),
    ("charge outcome not in enum", CASE, _set(("charges", 0, "outcome"), "guilty")),
    ("country lower case", CASE, _set(("countries_involved",), ["usa"])),
    ("related case without target", CASE, _set(("related_cases",), [{"relation": "related"}])),
    ("defendant type not in enum", CASE, _set(("defendants", 0, "type"), "robot")),
    ("final not boolean", CASE, _set(("final",), "yes")),
    ("lesson without themes", LESSON, _set(("themes",), [])),
    ("region code short", LESSON, _set(("regions",), ["15"])),
    ("record reference malformed", LESSON, _set(("law_refs",), ["IRL law 2017"])),
    ("lesson kind a number", LESSON, _set(("kind",), 5)),
    ("empty summary", LESSON, _set(("summary", "original", "text"), "")),
    ("partial date malformed", LESSON, _set(("date",), "2017-5")),
    ("several at once", LESSON, _set(("title",), {"original": {"lang": "", "text": 3}, "extra": 1})),
]


@pytest.mark.parametrize(("name", "example", "mutation"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutated_records_agree(validators: Validators, name: str, example: tuple[str, str], mutation: Mutation) -> None:
    record = load(*example)
    mutation(record)
    python, rust = verdicts(validators, f"{example[0]}/1", record)
    assert python, f"{name}: the mutation should make the record invalid"
    assert python == rust


def test_non_object_records_agree(validators: Validators) -> None:
    values: list[Any] = [[], "law", 3, None, True]
    for value in values:
        python, rust = verdicts(validators, "law/1", value)
        assert python == rust == {()}


ENVELOPE = {
    "submission_id": "0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10",
    "participant": "EST",
    "audience": "https://exchange.example.org",
    "created_at": "2026-11-28T15:00:00Z",
    "action": "upsert",
    "kind": "law",
    "schema": "law/1",
    "record_id": "penal-code",
    "base_version": 3,
    "record": {},
}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"submission_id": "0b6c6f2e"},
        {"base_version": 0},
        {"base_version": 2.5},
        {"action": "delete", "kind": "treaty"},
        {"created_at": "2026-11-28 15:00:00"},
        {"participant": "org:COE"},
        {"header": {}},
        {"record": "x", "record_id": ""},
    ],
)
def test_envelopes_agree(validators: Validators, changes: dict[str, Any]) -> None:
    payload = {**ENVELOPE, **changes}
    python, rust = verdicts(validators, "submission/1", payload)
    assert python == rust
    assert bool(python) == bool(changes)


ODD_VALUES: list[Any] = [None, True, 7, -2, 1.5, "", "ZZZ", "x" * 600, [], ["a", "a"], {}, {"lang": "en"}]


def _paths(node: Any, trail: Pointer = ()) -> Iterator[Pointer]:
    if trail:
        yield trail
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*trail, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*trail, index))


@pytest.mark.parametrize(("kind", "record_id"), [(kind, record_id) for kind, record_id, _ in examples()])
def test_random_mutations_agree(validators: Validators, kind: str, record_id: str) -> None:
    rng = random.Random(f"agreement:{record_id}")
    original = load(kind, record_id)
    paths = list(_paths(original))
    for _ in range(40):
        record = copy.deepcopy(original)
        _set(rng.choice(paths), copy.deepcopy(rng.choice(ODD_VALUES)))(record)
        python, rust = verdicts(validators, f"{kind}/1", record)
        assert python == rust
