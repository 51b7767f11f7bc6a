"""The identifiers of DESIGN §3 and §4: participants, records, submissions, key ids and JWS media types."""

from __future__ import annotations

import pytest

from exchange import identifiers
from exchange.identifiers import (
    is_kid,
    is_organisation_id,
    is_participant_id,
    is_record_id,
    is_state_id,
    is_uuid,
    media_type_of,
    parse_record_key,
    participant_of_kid,
    record_key,
    serialization_of,
    sniff_serialization,
)


@pytest.mark.parametrize("good", ["EST", "GBR", "org:coe", "org:unodc", "org:0", "org:" + "a" * 63, "org:a-b-1"])
def test_participant_ids(good: str) -> None:
    assert is_participant_id(good)


@pytest.mark.parametrize(
    "bad",
    ["", "est", "ES", "ESTO", "org:", "org:COE", "org:-coe", "org:" + "a" * 64, "org:a_b", "EST\n", "org:coe ", 3],
)
def test_not_participant_ids(bad: object) -> None:
    assert not is_participant_id(bad)


def test_states_and_organisations_apart() -> None:
    assert is_state_id("EST") and not is_state_id("org:coe") and not is_state_id("ESTO")
    assert is_organisation_id("org:coe") and not is_organisation_id("EST") and not is_organisation_id("org:Coe")


@pytest.mark.parametrize("good", ["penal-code", "a", "A.1_b-2", "9", "x" * 128])
def test_record_ids(good: str) -> None:
    assert is_record_id(good)


@pytest.mark.parametrize("bad", ["", "-a", ".a", "_a", "x" * 129, "a/b", "a b", "é", "a\n", None])
def test_not_record_ids(bad: object) -> None:
    assert not is_record_id(bad)


def test_uuids() -> None:
    assert is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E")
    for bad in ("0f8fad5bd9cb469fa16570867728950e", "0f8fad5b-d9cb-469f-a165-70867728950", "g" * 36, "", 1):
        assert not is_uuid(bad)
    assert not is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e\n")


def test_key_ids() -> None:
    assert is_kid("EST/2026-01") and is_kid("org:coe/k.1")
    assert not is_kid("EST") and not is_kid("est/2026") and not is_kid("EST/" + "a" * 65) and not is_kid("EST/-a")
    assert participant_of_kid("org:coe/2026-01") == "org:coe"


def test_record_keys_round_trip() -> None:
    assert record_key("org:coe", "lesson", "l-1") == "org:coe/lesson/l-1"
    assert parse_record_key("org:coe/lesson/l-1") == ("org:coe", "lesson", "l-1")
    assert parse_record_key("ZAF/law/zaf-cybercrimes-act-2020") == ("ZAF", "law", "zaf-cybercrimes-act-2020")


@pytest.mark.parametrize(
    "bad", ["GBR/law", "GBR/law/a/b", "GBR/tax/a", "gbr/law/a", "GBR/law/-a", "GBR/law/a\n", "", "GBR//a", 7]
)
def test_not_record_keys(bad: object) -> None:
    with pytest.raises(ValueError, match="is not <participant>/<kind>/<record_id>"):
        parse_record_key(bad)


def test_the_patterns_are_anchored_and_agree() -> None:
    for pattern in (
        identifiers.PARTICIPANT_ID_PATTERN,
        identifiers.RECORD_ID_PATTERN,
        identifiers.RECORD_KEY_PATTERN,
        identifiers.UUID_PATTERN,
    ):
        assert pattern.startswith("^") and pattern.endswith("$")
    assert (
        identifiers.PARTICIPANT_ID_PATTERN[:-1]
        + "/(law|case|lesson|need|assistance)/"
        + identifiers.RECORD_ID_PATTERN[1:]
    ) == identifiers.RECORD_KEY_PATTERN
    assert identifiers.KINDS == ("law", "case", "lesson", "need", "assistance")


def test_media_types_of_the_two_serializations() -> None:
    assert media_type_of("flattened") == "application/jose+json"  # DESIGN §4, RFC 7515 §9.2
    assert media_type_of("compact") == "application/jose"
    assert serialization_of("application/jose+json") == "flattened"
    assert serialization_of("application/jose") == "compact"
    assert serialization_of("application/json") is None
    assert serialization_of("application/jose+json; charset=utf-8") is None  # the caller passes the bare type


def test_a_serialization_from_the_bytes() -> None:
    assert sniff_serialization(b'  {"protected": ""}') == "flattened"
    assert sniff_serialization(b"eyJh.eyJi.c2ln") == "compact"


def test_document_identifiers_compare_by_scheme_and_work() -> None:
    assert identifiers.identifier_key("akn", "/akn/za/act/2020/19/eng@2021-06-01/!main") == "akn /akn/za/act/2020/19"
    assert identifiers.identifier_key("akn", " /akn/za/act/2020/19/ ") == "akn /akn/za/act/2020/19"
    assert identifiers.identifier_key("eli", "http://data.europa.eu/eli/dir/2013/40/oj/") == (
        "eli http://data.europa.eu/eli/dir/2013/40/oj"
    )
    record = {
        "identifiers": [
            {"scheme": "akn", "value": "/akn/za/act/2020/19/eng@"},
            {"scheme": "url", "value": "https://www.gov.za/documents/acts"},  # a page, not one document
            {"scheme": "akn", "value": "/akn/za/act/2020/19"},  # the same work twice
            {"scheme": "national", "value": "  "},
            "not an identifier",
        ]
    }
    assert identifiers.document_ids(record) == ("akn /akn/za/act/2020/19",)
    assert identifiers.document_ids({"identifiers": "x"}) == () and identifiers.document_ids(None) == ()


def test_relations_name_records_and_identifiers() -> None:
    record = {
        "relations": [
            {"type": "supersedes", "record": "ZAF/law/old-act"},
            {"type": "amends", "identifier": {"scheme": "eli", "value": "http://x.example/eli/1/"}},
            {"type": "repeals", "citation": "Act 1 of 1990"},
        ],
        "related_cases": [{"relation": "earlier_instance", "record": "ZAF/case/first-instance"}],
    }
    assert identifiers.related_to(record) == {
        "ZAF/law/old-act",
        "eli http://x.example/eli/1",
        "ZAF/case/first-instance",
    }
    assert identifiers.related_to({"relations": [1, None]}) == frozenset()
