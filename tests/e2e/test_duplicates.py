"""Duplicate identifiers over HTTP, on each stack: one document, one record of a participant."""

from __future__ import annotations

import copy
from typing import Any

from tests.e2e.conftest import Service, register
from tests.support import example


def under(law: dict[str, Any], title: str, **members: Any) -> dict[str, Any]:
    """The law under another title (as a second import of the same Act would name it)."""
    other = copy.deepcopy(law)
    other["title"]["original"]["text"] = title
    other.update(members)
    return other


async def test_a_second_record_with_the_same_identifier_is_a_409_naming_the_first(service: Service) -> None:
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    first = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    assert first["status"] == "accepted"

    status, problem = await service.post(service.signer.submission(under(law, "CMA 1990"), record_id="cma-1990"))
    assert status == 409, problem
    assert problem["type"] == "urn:exchange:problem:duplicate-identifier"
    assert problem["record"] == f"GBR/law/{record_id}"
    assert problem["identifier"] == "legislation.gov.uk http://www.legislation.gov.uk/id/ukpga/1990/18"
    [error] = problem["errors"]
    assert (error["pointer"], error["rule"]) == ("/record/identifiers", "conflict:duplicate-identifier")

    batch = await service.client.post(
        "/v1/submissions:batch",
        data=service.signer.submission(under(law, "CMA"), record_id="cma") + b"\n",
        headers={"Content-Type": "application/x-ndjson", "Accept": "application/json"},
    )
    [item] = (await batch.json())["results"]
    assert item["status"] == 409 and item["body"]["record"] == f"GBR/law/{record_id}"

    relations = [{"type": "supersedes", "record": f"GBR/law/{record_id}"}]
    replacing = under(law, "Computer Misuse Act 1990 (consolidated)", relations=relations)
    accepted = await service.submit_and_wait(service.signer.submission(replacing, record_id="cma-consolidated"))
    assert accepted["status"] == "accepted", accepted

    other = await register(service.services, "IRL")
    elsewhere = await service.submit_and_wait(
        other.submission({**law, "jurisdiction": "IRL"}, participant="IRL", record_id=record_id)
    )
    assert elsewhere["status"] == "accepted", elsewhere  # another participant's record may name the same Act
