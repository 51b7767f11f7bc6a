"""Path and query values a database cannot hold are refused by the gateway, on both stacks, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Service
from tests.support import example


async def _get(service: Service, path: str) -> tuple[int, Any]:
    response = await service.client.get(path, headers={"Authorization": f"Bearer {service.admin_token}"})
    text = await response.text()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


@pytest.mark.parametrize("number", ["2147483648", "99999999999", "9007199254740991"])
@pytest.mark.parametrize("prefix", ["/v1/records", "/v1/audit/records"])
async def test_a_version_beyond_32_bits_is_not_found_without_querying(
    service: Service, prefix: str, number: str
) -> None:
    status, problem = await _get(service, f"{prefix}/xx-example/law/penal-code/versions/{number}")
    assert status in (404, 422), (status, problem)
    assert problem["status"] == status


@pytest.mark.parametrize(
    "query",
    [
        "/v1/log/entries?start=99999999999999999999",
        "/v1/log/proof/inclusion?index=99999999999999999999&size=1",
        "/v1/log/proof/consistency?old=99999999999999999999&new=1",
    ],
)
async def test_a_log_index_beyond_64_bits_is_refused(service: Service, query: str) -> None:
    status, problem = await _get(service, query)
    assert 400 <= status < 500, (status, problem)


async def test_a_nul_in_the_key_directory_filter_is_a_422(service: Service) -> None:
    status, problem = await _get(service, "/v1/keys?participant=%00")
    assert status == 422, problem
    assert problem["errors"][0]["pointer"] == "?participant"


async def test_a_nul_in_a_path_segment_is_not_found(service: Service) -> None:
    status, problem = await _get(service, "/v1/records/xx%00/law/penal-code")
    assert status == 404, problem
    assert problem["status"] == 404


async def test_nul_or_control_characters_in_a_record_never_reach_the_database(service: Service) -> None:
    _, record = example("law")
    titled = {**record, "title": {"original": {"lang": "en", "text": "a\u0000b"}}}
    status, problem = await service.post(service.signer.submission(titled, record_id="nul-title"))
    assert status == 400 and problem["type"] == "urn:exchange:problem:invalid-json", problem  # as any I-JSON fault
    assert "U+0000" in problem["detail"] and problem["errors"][0]["pointer"] == "/record/title/original/text"
    identified = {**record, "identifiers": [{"scheme": "national", "value": "a\u0007b"}]}
    status, ack = await service.post(service.signer.submission(identified, record_id="bell"))
    assert status == 202, ack
    verdict = await service.verdict(ack["participant"], ack["submission_id"])
    assert verdict["status"] == "rejected" and verdict["errors"][0]["pointer"] == "/record/identifiers/0/value"
