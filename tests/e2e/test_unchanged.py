"""No empty versions, over HTTP on each stack: re-sending a record's current content is accepted as
*unchanged*: logged, with no new version, no change in the feed and nothing for a webhook."""

from __future__ import annotations

import base64
import copy
import json
import sqlite3
from typing import Any

import pytest

from exchange import admin
from tests.e2e.conftest import Service
from tests.e2e.test_verify import exchange, url_of
from tests.support import example


async def get_json(service: Service, path: str, token: str, **params: Any) -> Any:
    response = await service.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    return await response.json()


async def test_resending_the_current_content_is_accepted_unchanged(service: Service) -> None:
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    reordered = dict(reversed(list(law.items())))  # the same record, its members in another order
    first = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    again = await service.submit_and_wait(service.signer.submission(reordered, record_id=record_id))
    assert (first["status"], first["version"], "unchanged" in first) == ("accepted", 1, False)
    assert (again["status"], again["unchanged"], again["version"], again["seq"]) == (
        "accepted",
        True,
        1,
        first["seq"],
    )
    assert again["log_index"] > first["log_index"]  # the decision is logged all the same

    amended = copy.deepcopy(law)
    amended["title"]["original"]["text"] += " (amended)"
    changed = await service.submit_and_wait(service.signer.submission(amended, record_id=record_id))
    reverted = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    assert (changed["version"], reverted["version"], "unchanged" in reverted) == (2, 3, False)
    same_again = await service.submit_and_wait(service.signer.submission(law, record_id=record_id, base_version=3))
    assert (same_again["unchanged"], same_again["version"]) == (True, 3)

    feed = await get_json(service, "/v1/changes", service.token)
    assert [(c["version"], c["submission_id"]) for c in feed["results"]] == [
        (1, first["submission_id"]),
        (2, changed["submission_id"]),
        (3, reverted["submission_id"]),
    ]
    path = f"/v1/records/GBR/law/{record_id}/versions"
    versions = await get_json(service, path, service.token)
    assert [v["version"] for v in versions["versions"]] == [1, 2, 3]

    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    audited = await get_json(service, "/v1/audit/submissions", auditor, outcome="accepted")
    assert [(r["record"], r["version"]) for r in audited["results"]] == [
        (f"GBR/law/{record_id}", n) for n in (1, 1, 2, 3, 3)
    ]
    receipt = await service.client.get(f"/v1/submissions/GBR/{again['submission_id']}/receipt")
    assert receipt.status == 200
    index = again["log_index"]
    [logged] = (await get_json(service, "/v1/log/entries", auditor, start=index, end=index + 1))["entries"]
    entry = json.loads(base64.b64decode(logged["entry"]))
    assert (entry["outcome"], entry["version"], entry["jws_sha256"]) == ("accepted", 1, again["jws_sha256"])


async def test_a_withdrawn_record_sent_again_is_a_new_version(service: Service) -> None:
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    gone = await service.submit_and_wait(service.signer.submission(None, record_id=record_id, action="withdraw"))
    back = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    assert (gone["version"], back["version"], "unchanged" in back) == (2, 3, False)


@pytest.mark.parametrize("stack", ["embedded"])
async def test_exchange_verify_matches_an_unchanged_entry_to_the_version_it_names(service: Service) -> None:
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    for _ in range(2):
        await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    await service.client.get("/v1/log/checkpoint")
    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    code, out, err = await exchange("verify", url_of(service), "--token", auditor, "--quiet")
    assert code == 0, out + err
    assert "1 record version(s) matched to their signed payloads; 1 unchanged submission(s)" in out


@pytest.mark.parametrize("stack", ["embedded"])
async def test_admin_reindex_indexes_what_an_older_version_stored(service: Service) -> None:
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    path = service.services.settings.sqlite_path
    assert path is not None
    with sqlite3.connect(path) as db:  # the record as a version without digests or identifier terms left it
        db.execute("UPDATE records SET content_sha256 = NULL")
        db.execute("DELETE FROM record_terms WHERE facet = 'i'")
    code, out, err = await exchange("admin", "reindex", env={"EXCHANGE_DATA_DIR": str(path.parent)})
    assert code == 0, out + err
    assert "reindexed 1 of 1 current record(s)" in err
    status, problem = await service.post(service.signer.submission(law, record_id="cma"))
    assert status == 409 and problem["record"] == f"GBR/law/{record_id}", problem
    again = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    assert again["unchanged"] is True
