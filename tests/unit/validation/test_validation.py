"""Validation of submissions: examples accepted, each rule reported with its exact pointer, odd input survived."""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from exchange.validation import IndexFields, Issue, ParticipantScope, Validator
from tests.support import example_owner, examples

SUBMISSION_ID = "0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10"
AUDIENCE = "https://exchange.example.org"
# RFC 6901: empty (the whole document) or "/"-separated tokens where "~" only escapes as ~0 or ~1.
JSON_POINTER = re.compile(r"(/([^~/]|~[01])*)*")


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.from_package()


EXAMPLES = list(examples())


def example(kind: str, record_id: str) -> dict[str, Any]:
    for found_kind, found_id, record in EXAMPLES:
        if (found_kind, found_id) == (kind, record_id):
            return copy.deepcopy(record)
    raise LookupError(record_id)


def state(iso3: str) -> ParticipantScope:
    return ParticipantScope(id=iso3, type="member_state", jurisdictions=frozenset({iso3}))


def organisation(slug: str, *granted: str) -> ParticipantScope:
    return ParticipantScope(id=f"org:{slug}", type="intergovernmental_organization", jurisdictions=frozenset(granted))


def envelope(
    kind: str, record: Any, participant: str, record_id: str = "some-record", **changes: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "submission_id": SUBMISSION_ID,
        "participant": participant,
        "audience": AUDIENCE,
        "created_at": "2026-11-28T15:00:00Z",
        "action": "upsert",
        "kind": kind,
        "schema": f"{kind}/1",
        "record_id": record_id,
        "record": record,
    }
    payload.update(changes)
    return payload


def zaf_law() -> dict[str, Any]:
    return example("law", "zaf-cybercrimes-act-2020")


def pairs(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(issue.pointer, issue.rule) for issue in issues]


# -- examples ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "record_id", "record"), EXAMPLES, ids=[f"{k}/{r}" for k, r, _ in EXAMPLES])
def test_example_is_accepted_from_its_owner(
    validator: Validator, kind: str, record_id: str, record: dict[str, Any]
) -> None:
    owner = example_owner(kind, record)
    scope = (
        organisation(owner.removeprefix("org:"), record["jurisdiction"]) if owner.startswith("org:") else state(owner)
    )
    payload = envelope(kind, record, owner, record_id)
    assert validator.validate_payload(payload, scope) == []
    assert validator.validate_record(f"{kind}/1", record, scope) == []
    assert validator.validate_record(f"{kind}/1", record) == []


@pytest.mark.parametrize(
    ("kind", "record_id", "record"),
    [entry for entry in EXAMPLES if entry[0] in ("case", "lesson", "need")],
    ids=[f"{k}/{r}" for k, r, _ in EXAMPLES if k in ("case", "lesson", "need")],
)
def test_cases_and_lessons_are_accepted_from_a_granted_organisation(
    validator: Validator, kind: str, record_id: str, record: dict[str, Any]
) -> None:
    scope = organisation("unodc", record["jurisdiction"], "FRA")
    assert validator.validate_payload(envelope(kind, record, "org:unodc", record_id), scope) == []


def test_a_withdraw_needs_no_record(validator: Validator) -> None:
    payload = envelope("law", None, "ZAF", action="withdraw", base_version=3)
    del payload["record"]
    assert validator.validate_payload(payload, state("ZAF")) == []


# -- schema errors ----------------------------------------------------------------------------------


def test_missing_required_member(validator: Validator) -> None:
    record = zaf_law()
    del record["title"]
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/title", "schema:required")]
    assert '"title"' in issues[0].message


def test_wrong_type(validator: Validator) -> None:
    record = zaf_law()
    record["provisions"][2]["num"] = 4
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/provisions/2/num", "schema:type")]
    assert issues[0].message == "4 is not a string."


def test_bad_enum(validator: Validator) -> None:
    record = zaf_law()
    record["status"] = "in_effect"
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/status", "schema:enum")]
    assert '"in_effect"' in issues[0].message
    assert '"in_force"' in issues[0].message


def test_bad_pattern_names_what_was_expected(validator: Validator) -> None:
    record = zaf_law()
    record["title"]["original"]["lang"] = "english language"
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/title/original/lang", "schema:pattern")]
    assert issues[0].message.startswith('"english language" is not a valid language tag')


def test_unexpected_member_with_an_escaped_pointer(validator: Validator) -> None:
    record = zaf_law()
    record["notes/draft~1"] = "x"
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/notes~1draft~01", "schema:additionalProperties")]


def test_court_is_required_for_a_court_decision(validator: Validator) -> None:
    record = example("case", "usa-united-states-v-morris-1991")
    del record["court"]
    assert pairs(validator.validate_record("case/1", record)) == [("/record/court", "schema:required")]
    record["case_type"] = "law_enforcement_operation"
    assert validator.validate_record("case/1", record) == []


def test_a_source_needs_a_url_or_a_title(validator: Validator) -> None:
    record = zaf_law()
    record["sources"] = [{"kind": "other"}]
    issues = validator.validate_record("law/1", record)
    assert pairs(issues) == [("/record/sources/0", "schema:anyOf")]
    assert '"url"' in issues[0].message
    assert '"title"' in issues[0].message


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("submission_id", "not-a-uuid", ("/submission_id", "schema:pattern")),
        ("participant", "Estonia", ("/participant", "schema:pattern")),
        ("created_at", "2026-11-28T15:00:00+01:00", ("/created_at", "schema:pattern")),
        ("action", "delete", ("/action", "schema:enum")),
        ("kind", "treaty", ("/kind", "schema:enum")),
        ("schema", "law", ("/schema", "schema:pattern")),
        ("record_id", "-starts-with-hyphen", ("/record_id", "schema:pattern")),
        ("base_version", 0, ("/base_version", "schema:minimum")),
        ("base_version", True, ("/base_version", "schema:type")),
        ("record", [], ("/record", "schema:type")),
        ("signature", "x", ("/signature", "schema:additionalProperties")),
    ],
)
def test_envelope_errors(validator: Validator, member: str, value: Any, expected: tuple[str, str]) -> None:
    payload = envelope("law", zaf_law(), "ZAF")
    payload[member] = value
    assert expected in pairs(validator.validate_payload(payload, state("ZAF")))


def test_missing_envelope_member(validator: Validator) -> None:
    payload = envelope("law", zaf_law(), "ZAF")
    del payload["audience"]
    assert pairs(validator.validate_payload(payload, state("ZAF"))) == [("/audience", "schema:required")]


# -- vocabulary, instrument and country rules -------------------------------------------------------


def test_unknown_vocabulary_term(validator: Validator) -> None:
    record = zaf_law()
    record["provisions"][0]["offence_categories"].append("off.cia.telepathy")
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/provisions/0/offence_categories/1", "vocabulary:unknown-term")]
    assert '"off.cia.telepathy"' in issues[0].message


def test_term_of_another_vocabulary(validator: Validator) -> None:
    record = zaf_law()
    record["provisions"][0]["offence_categories"] = ["proc.search_seizure"]
    issues = validator.validate_record("law/1", record)
    assert pairs(issues) == [("/record/provisions/0/offence_categories/0", "vocabulary:unknown-term")]
    assert "procedural_powers" in issues[0].message


def test_lesson_themes_are_checked_everywhere(validator: Validator) -> None:
    record = example("lesson", "zaf-commencement-in-parts-2021")
    record["themes"].append("off.cia")
    record["technical_assistance_needs"][0]["themes"] = ["lesson.nothing"]
    assert pairs(validator.validate_record("lesson/1", record)) == [
        ("/record/themes/2", "vocabulary:unknown-term"),
        ("/record/technical_assistance_needs/0/themes/0", "vocabulary:unknown-term"),
    ]


def test_unknown_instrument_article(validator: Validator) -> None:
    record = zaf_law()
    record["provisions"][0]["instrument_refs"][1]["article"] = "99"
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/provisions/0/instrument_refs/1/article", "instrument:unknown-article")]
    assert '"99"' in issues[0].message
    assert "inst.un.uncc2024" in issues[0].message


def test_article_paragraphs_are_accepted(validator: Validator) -> None:
    record = zaf_law()
    record["provisions"][11]["instrument_refs"].append({"instrument": "inst.coe.ets185", "article": "19(4)"})
    assert validator.validate_record("law/1", record) == []


def test_unknown_instrument_and_uncatalogued_articles(validator: Validator) -> None:
    record = zaf_law()
    record["instruments_implemented"] = ["inst.coe.ets185", "inst.xx.none"]
    record["provisions"][0]["instrument_refs"] = [
        {"instrument": "inst.xx.none", "article": "1"},
        {"instrument": "inst.coe.cets201", "article": "99"},
    ]
    assert pairs(validator.validate_record("law/1", record)) == [
        ("/record/instruments_implemented/1", "vocabulary:unknown-term"),
        ("/record/provisions/0/instrument_refs/0/instrument", "vocabulary:unknown-term"),
        ("/record/provisions/0/instrument_refs/1/article", "instrument:unknown-article"),
    ]


def test_unknown_country(validator: Validator) -> None:
    record = zaf_law()
    record["jurisdiction"] = "XZZ"
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/jurisdiction", "country:unknown")]
    assert '"XZZ"' in issues[0].message


def test_other_countries_need_only_be_real(validator: Validator) -> None:
    record = example("case", "usa-united-states-v-morris-1991")
    record["countries_involved"] = ["FRA", "QQQ"]
    record["defendants"][0]["nationalities"] = ["USA", "ZZZ"]
    issues = validator.validate_payload(envelope("case", record, "USA"), state("USA"))
    assert pairs(issues) == [
        ("/record/countries_involved/1", "country:unknown"),
        ("/record/defendants/0/nationalities/1", "country:unknown"),
    ]


def test_unknown_region(validator: Validator) -> None:
    record = example("lesson", "gbr-police-response-cyber-dependent-crime-2023")
    record["regions"] = ["150", "999"]
    record["countries"] = ["IRL"]
    assert pairs(validator.validate_record("lesson/1", record)) == [("/record/regions/1", "region:unknown")]


def test_a_term_failing_its_pattern_is_reported_once(validator: Validator) -> None:
    record = zaf_law()
    record["provisions"][0]["offence_categories"] = ["OFF"]
    record["jurisdiction"] = "za"
    assert pairs(validator.validate_record("law/1", record, state("ZAF"))) == [
        ("/record/jurisdiction", "schema:pattern"),
        ("/record/provisions/0/offence_categories/0", "schema:pattern"),
    ]


# -- ownership --------------------------------------------------------------------------------------


def test_organisation_may_not_submit_a_law(validator: Validator) -> None:
    scope = organisation("coe", "ZAF")
    issues = validator.validate_payload(envelope("law", zaf_law(), "org:coe"), scope)
    assert pairs(issues) == [("/kind", "kind:not-permitted")]
    assert "org:coe" in issues[0].message


def test_state_may_not_submit_about_another_jurisdiction(validator: Validator) -> None:
    issues = validator.validate_payload(envelope("law", zaf_law(), "KEN"), state("KEN"))
    assert pairs(issues) == [("/record/jurisdiction", "jurisdiction:not-permitted")]
    assert '"ZAF"' in issues[0].message
    assert "KEN" in issues[0].message


def test_organisation_outside_its_granted_jurisdictions(validator: Validator) -> None:
    record = example("lesson", "zaf-commencement-in-parts-2021")
    scope = organisation("coe", "EST", "FRA")
    issues = validator.validate_payload(envelope("lesson", record, "org:coe"), scope)
    assert pairs(issues) == [("/record/jurisdiction", "jurisdiction:not-permitted")]


def test_observer_state_submits_like_a_state(validator: Validator) -> None:
    record = zaf_law()
    scope = ParticipantScope(id="ZAF", type="observer_state", jurisdictions=frozenset())
    assert validator.validate_payload(envelope("law", record, "ZAF"), scope) == []


def test_payload_naming_another_participant(validator: Validator) -> None:
    issues = validator.validate_payload(envelope("law", zaf_law(), "KEN"), state("ZAF"))
    assert pairs(issues) == [("/participant", "participant:mismatch")]


# -- envelope rules ---------------------------------------------------------------------------------


def test_unknown_schema(validator: Validator) -> None:
    issues = validator.validate_payload(envelope("law", zaf_law(), "ZAF", schema="law/2"), state("ZAF"))
    assert pairs(issues) == [("/schema", "schema:unknown")]
    assert "law/1" in issues[0].message
    assert pairs(validator.validate_record("law/7", {})) == [("/schema", "schema:unknown")]


def test_kind_mismatch(validator: Validator) -> None:
    issues = validator.validate_payload(envelope("case", zaf_law(), "ZAF", schema="law/1"), state("ZAF"))
    assert pairs(issues) == [("/schema", "schema:kind-mismatch")]


def test_withdraw_with_a_record(validator: Validator) -> None:
    issues = validator.validate_payload(envelope("law", zaf_law(), "ZAF", action="withdraw"), state("ZAF"))
    assert pairs(issues) == [("/record", "record:unexpected")]


def test_upsert_without_a_record(validator: Validator) -> None:
    payload = envelope("law", None, "ZAF")
    del payload["record"]
    assert pairs(validator.validate_payload(payload, state("ZAF"))) == [("/record", "record:missing")]


def test_several_errors_are_all_reported(validator: Validator) -> None:
    record = zaf_law()
    del record["status"]
    record["dates"]["adopted"] = "2021-5-26"
    record["jurisdiction"] = "KEN"
    record["provisions"][1]["offence_categories"] = ["off.unknown", "proc.scope"]
    record["provisions"][3]["instrument_refs"][0]["article"] = "60"
    payload = envelope("law", record, "ZAF", created_at="yesterday", base_version=0)
    issues = validator.validate_payload(payload, state("ZAF"))
    assert pairs(issues) == [
        ("/created_at", "schema:pattern"),
        ("/base_version", "schema:minimum"),
        ("/record/status", "schema:required"),
        ("/record/dates/adopted", "schema:pattern"),
        ("/record/provisions/1/offence_categories/0", "vocabulary:unknown-term"),
        ("/record/provisions/1/offence_categories/1", "vocabulary:unknown-term"),
        ("/record/provisions/3/instrument_refs/0/article", "instrument:unknown-article"),
        ("/record/jurisdiction", "jurisdiction:not-permitted"),
    ]
    assert all(issue.message.endswith(".") for issue in issues)


def test_issue_as_dict() -> None:
    issue = Issue("/record/title", "schema:required", 'The member "title" is required.')
    assert issue.as_dict() == {
        "pointer": "/record/title",
        "rule": "schema:required",
        "message": 'The member "title" is required.',
    }


# -- catalogue access -------------------------------------------------------------------------------


def test_catalogue_access(validator: Validator) -> None:
    assert validator.known_schemas() == ["assistance/1", "case/1", "law/1", "lesson/1", "need/1"]
    assert validator.schema_document("law/1")["$id"] == "https://schemas.exchange.int/law/1"
    assert validator.schema_document("submission/1")["title"]
    with pytest.raises(KeyError):
        validator.schema_document("law/9")
    assert {"offence_categories", "procedural_powers"} <= set(validator.vocabularies["vocabularies"])
    assert validator.is_country("EST")
    assert not validator.is_country("XYZ")
    assert not validator.is_country("est")
    assert validator.region_codes("EST") == ("150", "154")
    assert validator.region_codes("XYZ") == ()


# -- index fields -----------------------------------------------------------------------------------


def test_index_fields_of_a_law(validator: Validator) -> None:
    fields = validator.index_fields("law", zaf_law())
    assert isinstance(fields, IndexFields)
    assert fields.jurisdictions == ("ZAF",)
    assert fields.regions == ("002", "202", "018")
    assert "off.cia.illegal_access" in fields.tags
    assert "coop.network_24_7" in fields.tags
    assert "inst.coe.ets185" not in fields.tags
    assert list(fields.tags) == sorted(set(fields.tags))
    assert fields.status == "partially_in_force"
    assert fields.title == "Cybercrimes Act, 2020"
    assert fields.date == "2021-05-26"
    assert "Cyber extortion" in fields.text
    assert "Act 19 of 2020" in fields.text


def test_index_prefers_an_english_title(validator: Validator) -> None:
    fields = validator.index_fields("law", example("law", "deu-strafgesetzbuch-202a-202c"))
    assert fields.title == "Criminal Code, sections 202a-202c"
    assert "Ausspähen von Daten" in fields.text
    assert fields.date is None
    record = example("law", "deu-strafgesetzbuch-202a-202c")
    del record["title"]["translations"]
    assert validator.index_fields("law", record).title == "Strafgesetzbuch (StGB) §§ 202a-202c"


def test_index_fields_of_a_case(validator: Validator) -> None:
    record = example("case", "usa-united-states-v-morris-1991")
    record["countries_involved"] = ["GBR", "USA", "DEU"]
    fields = validator.index_fields("case", record)
    assert fields.jurisdictions == ("USA", "GBR", "DEU")
    assert fields.regions[:2] == ("019", "021")
    assert "150" in fields.regions
    assert fields.status == "appeal"
    assert fields.date == "1991-03-07"
    assert fields.tags == ("off.cia.illegal_access", "off.cia.system_interference")


def test_index_fields_of_a_lesson(validator: Validator) -> None:
    record = example("lesson", "irl-broad-definition-information-system-2017")
    record.update(countries=["GBR"], regions=["001"], date="2017-05")
    fields = validator.index_fields("lesson", record)
    assert fields.jurisdictions == ("IRL", "GBR")
    assert fields.regions == ("150", "154", "001")
    assert fields.tags == ("lesson.legislation", "off.cia")
    assert fields.status == "good_practice"
    assert fields.date == "2017-05-01"
    record["date"] = "2017"
    assert validator.index_fields("lesson", record).date == "2017-01-01"


def test_index_fields_unknown_kind(validator: Validator) -> None:
    with pytest.raises(KeyError):
        validator.index_fields("treaty", {})


# -- robustness -------------------------------------------------------------------------------------

ODD_VALUES: list[Any] = [None, True, 0, -1, 10**40, 1.5, "", "x" * 300, [], [None], {}, {"": []}]


@pytest.mark.parametrize("payload", [None, [], "x", 1, 2.5, True, {"record": []}, {"record": {"title": 5}}])
def test_odd_payloads_do_not_raise(validator: Validator, payload: Any) -> None:
    issues = validator.validate_payload(payload, state("ZAF"))
    assert issues
    assert all(isinstance(issue, Issue) for issue in issues)


def _paths(node: Any, trail: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield trail
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*trail, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*trail, index))


def _replace(node: Any, path: tuple[str | int, ...], value: Any) -> Any:
    if not path:
        return value
    parent = node
    for token in path[:-1]:
        parent = parent[token]
    parent[path[-1]] = value
    return node


@pytest.mark.parametrize(("kind", "record_id", "record"), EXAMPLES, ids=[f"{k}/{r}" for k, r, _ in EXAMPLES])
def test_fuzzed_records_never_raise(validator: Validator, kind: str, record_id: str, record: dict[str, Any]) -> None:
    rng = random.Random(record_id)
    owner = record["jurisdiction"]
    payload = envelope(kind, record, owner, record_id)
    paths = list(_paths(payload))
    for _ in range(150):
        mutated = copy.deepcopy(payload)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            try:
                mutated = _replace(mutated, path, copy.deepcopy(rng.choice(ODD_VALUES)))
            except (KeyError, IndexError, TypeError):
                continue
        issues = validator.validate_payload(mutated, state(owner))
        for issue in issues:
            assert isinstance(issue, Issue), issue
            assert JSON_POINTER.fullmatch(issue.pointer), issue
        if isinstance(mutated, dict) and isinstance(mutated.get("record"), dict):
            validator.index_fields(kind, mutated["record"])


def test_deep_nesting_and_non_json_values_do_not_raise(validator: Validator) -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(3000):
        node.append([])
        node = node[0]
    record = zaf_law()
    record["provisions"][0]["offence_categories"] = deep
    issues = validator.validate_payload(envelope("law", record, "ZAF"), state("ZAF"))
    assert issues
    record = zaf_law()
    record["citation"] = {"a", "b"}
    issues = validator.validate_record("law/1", record)
    assert pairs(issues) == [("/record", "schema:unprocessable")]


# -- needs and activities -------------------------------------------------------------------------


def test_a_need_about_another_state_is_refused(validator: Validator) -> None:
    record = example("need", "ken-electronic-evidence-training-2024")
    issues = validator.validate_payload(envelope("need", record, "ZAF"), state("ZAF"))
    assert pairs(issues) == [("/record/jurisdiction", "jurisdiction:not-permitted")]


def test_an_organisation_records_needs_only_for_granted_jurisdictions(validator: Validator) -> None:
    record = example("need", "phl-data-preservation-assessment-2023")
    granted = validator.validate_payload(envelope("need", record, "org:coe"), organisation("coe", "PHL"))
    assert granted == []
    issues = validator.validate_payload(envelope("need", record, "org:coe"), organisation("coe", "KEN"))
    assert pairs(issues) == [("/record/jurisdiction", "jurisdiction:not-permitted")]


def test_a_need_names_catalogued_articles(validator: Validator) -> None:
    record = example("need", "ken-electronic-evidence-training-2024")
    record["instrument_refs"][1]["article"] = "999"
    record["instrument_refs"].append({"instrument": "inst.nowhere", "article": "1"})
    assert pairs(validator.validate_record("need/1", record, state("KEN"))) == [
        ("/record/instrument_refs/1/article", "instrument:unknown-article"),
        ("/record/instrument_refs/2/instrument", "vocabulary:unknown-term"),
    ]


def test_an_activity_is_recorded_by_one_of_its_providers_for_any_beneficiary(validator: Validator) -> None:
    record = example("assistance", "ken-evidence-training-2025")
    assert validator.validate_payload(envelope("assistance", record, "org:unodc"), organisation("unodc")) == []
    issues = validator.validate_payload(envelope("assistance", record, "org:coe"), organisation("coe", "KEN"))
    assert pairs(issues) == [("/record/providers", "provider:not-submitter")]
    assert "org:coe" in issues[0].message
    record["providers"].append({"participant": "GBR", "name": "United Kingdom", "role": "funding"})
    assert validator.validate_payload(envelope("assistance", record, "GBR"), state("GBR")) == []


def test_an_activity_answers_needs_only(validator: Validator) -> None:
    record = example("assistance", "ken-evidence-training-2025")
    record["answers"] = [{"record": "KEN/law/law-ken-2018-5", "version": 1}]
    assert pairs(validator.validate_record("assistance/1", record)) == [("/record/answers/0/record", "schema:pattern")]


def test_needs_and_activities_are_indexed(validator: Validator) -> None:
    need = validator.index_fields("need", example("need", "ken-electronic-evidence-training-2024"))
    assert need.jurisdictions == ("KEN",)
    assert need.status == "requested"
    assert need.date == "2024-03-01"
    assert "lesson.digital_evidence" in need.tags and "proc.search_seizure" in need.tags
    activity = validator.index_fields("assistance", example("assistance", "glacyplus-2016"))
    assert activity.jurisdictions[:2] == ("PHL", "DOM")
    assert activity.status == "completed"
    assert activity.date == "2016-03-01"
    assert "Council of Europe" in activity.text
