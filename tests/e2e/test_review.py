"""Review before publication, over HTTP on each stack: a held submission is logged as ``pending_review``
and published only when an editor approves it with their own signed decision, in commit order."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from exchange import admin
from exchange.client import review_payload
from tests.e2e.conftest import Service, register
from tests.e2e.test_verify import exchange, url_of
from tests.support import Signer, example, variant


async def get(service: Service, path: str, token: str, status: int = 200, **params: Any) -> Any:
    response = await service.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert response.status == status, await response.text()
    return await response.json()


async def decide(service: Service, editor: Signer, held: dict[str, Any], action: str, **extra: Any) -> dict[str, Any]:
    payload = review_payload(
        participant=editor.participant, audience=editor.audience, action=action, reviewed=held, **extra
    )
    return await service.submit_and_wait(editor.sign_payload(payload))


async def entry(service: Service, token: str, index: int) -> dict[str, Any]:
    [logged] = (await get(service, "/v1/log/entries", token, start=index, end=index + 1))["entries"]
    return dict(json.loads(base64.b64decode(logged["entry"])))


@pytest.mark.settings(review=("GBR/law",))
async def test_an_approved_submission_becomes_the_next_version_in_commit_order(service: Service) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    editor_token, _ = await admin.create_token(service.services.repository, "editor", "org:secretariat")
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    held = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    assert (held["status"], held["kind"], "version" in held) == ("pending_review", "law", False)
    assert (await entry(service, service.token, held["log_index"]))["outcome"] == "pending_review"
    assert (await get(service, "/v1/changes", service.token))["results"] == []
    await get(service, f"/v1/records/GBR/law/{record_id}", service.token, status=404)

    queue = await get(service, "/v1/reviews", editor_token)
    assert [(r["submission_id"], r["record"], r["content"]) for r in queue["results"]] == [
        (held["submission_id"], f"GBR/law/{record_id}", law)
    ]
    await get(service, "/v1/reviews", service.token, status=403)  # a participant cannot read the queue

    # a case of the same State is not held: it is published at once, before the law is approved
    case_id, case = example("case")
    published = await service.submit_and_wait(
        service.signer.submission(case, record_id=case_id, kind="case", schema="case/1")
    )
    assert published["status"] == "accepted", published
    approval = await decide(service, editor, held, "approve", comments="checked against the gazette")
    assert approval["status"] == "accepted", approval
    assert (approval["record"], approval["version"]) == (f"GBR/law/{record_id}", 1)
    now = await get(service, f"/v1/submissions/GBR/{held['submission_id']}", service.token)
    assert (now["status"], now["version"], now["review"]["by"], now["review"]["comments"]) == (
        "accepted",
        1,
        editor.key.kid,
        "checked against the gazette",
    )
    feed = (await get(service, "/v1/changes", service.token))["results"]
    assert [(c["seq"], c["record"], c["submission_id"]) for c in feed] == [
        (1, f"GBR/case/{case_id}", published["submission_id"]),
        (2, f"GBR/law/{record_id}", held["submission_id"]),
    ]
    assert feed[1]["log_index"] == approval["log_index"]
    logged = await entry(service, service.token, approval["log_index"])
    assert (logged["type"], logged["action"], logged["record"], logged["version"]) == (
        "review",
        "approve",
        f"GBR/law/{record_id}",
        1,
    )
    assert (logged["reviewed_submission_id"], logged["reviewed_jws_sha256"]) == (
        held["submission_id"],
        held["jws_sha256"],
    )
    record = await get(service, f"/v1/records/GBR/law/{record_id}", service.token)
    assert record["content"] == law
    assert record["provenance"]["submission_id"] == held["submission_id"]
    assert record["provenance"]["review"]["submission_id"] == approval["submission_id"]

    again = await decide(service, editor, held, "approve")
    assert (again["status"], again["errors"][0]["rule"]) == ("rejected", "review:not-pending")


@pytest.mark.settings(review=("GBR",))
async def test_a_returned_submission_carries_the_comments_and_a_corrected_one_can_follow(service: Service) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    held = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    returned = await decide(service, editor, held, "return", comments="the title is not the official one")
    assert returned["status"] == "accepted"
    seen = await get(service, f"/v1/submissions/GBR/{held['submission_id']}", service.token)
    assert (seen["status"], seen["review"]["action"], seen["review"]["comments"]) == (
        "returned",
        "return",
        "the title is not the official one",
    )
    assert (await entry(service, service.token, returned["log_index"]))["action"] == "return"
    assert (await get(service, "/v1/changes", service.token))["results"] == []

    corrected = copy.deepcopy(law)
    corrected["title"]["original"]["text"] = "Computer Misuse Act 1990"
    second = await service.submit_and_wait(service.signer.submission(corrected, record_id=record_id))
    assert second["status"] == "pending_review"
    approved = await decide(service, editor, second, "approve")
    assert approved["version"] == 1
    too_late = await decide(service, editor, held, "approve")
    assert too_late["errors"][0]["rule"] == "review:not-pending"


@pytest.mark.settings(review=("GBR",))
async def test_only_a_secretariat_key_may_decide(service: Service) -> None:
    other = await register(service.services, "FRA")
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    held = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    refused = await decide(service, other, held, "approve")
    assert (refused["status"], refused["errors"][0]["rule"]) == ("rejected", "review:not-editor")
    own = await decide(service, service.signer, held, "approve")
    assert own["errors"][0]["rule"] == "review:not-editor"
    still = await get(service, f"/v1/submissions/GBR/{held['submission_id']}", service.token)
    assert still["status"] == "pending_review"


@pytest.mark.parametrize("stack", ["embedded"])
@pytest.mark.settings(review=("GBR",))
async def test_exchange_verify_and_follow_check_the_review_decisions(service: Service, tmp_path: Path) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    laws = [(record_id, law), *[(f"{record_id}-{n}", variant(law, n)) for n in (1, 2)]]
    held = [await service.submit_and_wait(service.signer.submission(law, record_id=rid)) for rid, law in laws]
    await decide(service, editor, held[0], "approve")
    await decide(service, editor, held[1], "return", comments="not in force")
    await decide(service, editor, held[0], "approve")  # too late: rejected, and logged as such
    await service.client.get("/v1/log/checkpoint")
    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    code, out, err = await exchange("verify", url_of(service), "--token", auditor, "--quiet")
    assert code == 0, out + err
    assert "3 held for review, 2 review decision(s)" in out, out
    assert "1 record version(s) matched to their signed payloads" in out, out
    code, out, err = await exchange(
        "follow", url_of(service), "--out", str(tmp_path / "copy"), "--once", "--mode", "pull"
    )
    assert code == 0, out + err
    assert "1 change(s) verified and written" in err, err


@pytest.mark.parametrize("stack", ["embedded"])
@pytest.mark.settings(review=("GBR",))
async def test_an_editor_works_the_queue_from_the_command_line(service: Service, tmp_path: Path) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    token, _ = await admin.create_token(service.services.repository, "editor", "org:secretariat")
    key_file = tmp_path / "editor.pem"
    key_file.write_bytes(editor.key.private_pem())
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    first = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    second = await service.submit_and_wait(service.signer.submission(variant(law, 1), record_id=f"{record_id}-1"))
    common = ("--url", url_of(service), "--token", token)
    code, out, err = await exchange("review", "list", *common)
    assert code == 0, out + err
    assert out.splitlines() == [
        f"GBR/{first['submission_id']}  upsert GBR/law/{record_id} (new record), received {first['received_at']}",
        f"GBR/{second['submission_id']}  upsert GBR/law/{record_id}-1 (new record), received {second['received_at']}",
    ]
    signing = ("--kid", editor.key.kid, "--key", str(key_file))
    code, out, err = await exchange("review", "approve", f"GBR/{first['submission_id']}", *common, *signing)
    assert code == 0, out + err
    assert out.startswith(f"approved GBR/{first['submission_id']}: GBR/law/{record_id} version 1 (seq 1)"), out
    code, out, err = await exchange(
        "review", "return", f"GBR/{second['submission_id']}", *common, *signing, "--comment", "duplicate of the Act"
    )
    assert code == 0 and "returned to the submitter" in out, out + err
    code, out, err = await exchange("review", "approve", f"GBR/{second['submission_id']}", *common, *signing)
    assert code == 1 and "review:not-pending" in err, out + err
    code, out, err = await exchange("review", "list", *common, "--returned", "--json")
    assert [item["review"]["comments"] for item in json.loads(out)] == ["duplicate of the Act"], out + err
