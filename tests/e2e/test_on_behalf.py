"""Entry on behalf of a State, over HTTP on each stack: an editor's secretariat key signs a record that
belongs to a State with no signing system; its provenance, the feed, ``exchange verify`` and
``exchange follow`` all say who entered it for whom."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from exchange import admin
from exchange.client import endorse_payload
from tests.e2e.conftest import Service, register
from tests.e2e.test_verify import exchange, url_of
from tests.support import example


async def get(service: Service, path: str, **params: Any) -> Any:
    response = await service.client.get(path, params=params, headers={"Authorization": f"Bearer {service.admin_token}"})
    assert response.status == 200, await response.text()
    return await response.json()


async def test_an_editor_enters_a_law_on_behalf_of_a_state(service: Service) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    await admin.add_participant(
        service.services.repository, service.services.validator, "KEN", "Kenya", "member_state", []
    )
    record_id, law = example("law", "ken-computer-misuse-and-cybercrimes-act-2018")
    entered = await service.submit_and_wait(editor.submission(law, record_id=record_id, on_behalf_of="KEN"))
    assert (entered["status"], entered["record"], entered["participant"]) == (
        "accepted",
        f"KEN/law/{record_id}",
        "org:secretariat",
    )
    record = await get(service, f"/v1/records/KEN/law/{record_id}")
    provenance = record["provenance"]
    assert (provenance["entered_by"], provenance["on_behalf_of"], provenance["kid"]) == (
        "org:secretariat",
        "KEN",
        editor.key.kid,
    )
    jws = await service.client.get(provenance["jws"])
    assert jws.status == 200
    [change] = (await get(service, "/v1/changes", include="jws,record"))["results"]
    assert (change["record"], change["jws"]) == (f"KEN/law/{record_id}", await jws.text())
    [logged] = (await get(service, "/v1/log/entries", start=entered["log_index"], end=entered["log_index"] + 1))[
        "entries"
    ]
    entry = json.loads(base64.b64decode(logged["entry"]))
    assert (entry["participant"], entry["record"], entry["kid"]) == (
        "org:secretariat",
        f"KEN/law/{record_id}",
        editor.key.kid,
    )


async def test_only_a_secretariat_may_enter_for_another_and_only_for_a_registered_one(service: Service) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    record_id, law = example("law", "ken-computer-misuse-and-cybercrimes-act-2018")
    unknown = await service.submit_and_wait(editor.submission(law, record_id=record_id, on_behalf_of="KEN"))
    assert (unknown["status"], unknown["errors"][0]["pointer"], unknown["errors"][0]["rule"]) == (
        "rejected",
        "/on_behalf_of",
        "participant:unknown",
    )
    await admin.add_participant(
        service.services.repository, service.services.validator, "KEN", "Kenya", "member_state", []
    )
    state = await service.submit_and_wait(service.signer.submission(law, record_id=record_id, on_behalf_of="KEN"))
    assert (state["status"], state["errors"][0]["rule"]) == ("rejected", "on-behalf:not-editor")
    _, gbr_law = example("law", "gbr-computer-misuse-act-1990")
    elsewhere = await service.submit_and_wait(editor.submission(gbr_law, record_id="cma", on_behalf_of="KEN"))
    assert elsewhere["status"] == "rejected"  # a law of the United Kingdom is not Kenya's
    assert any(e["pointer"].startswith("/record") for e in elsewhere["errors"]), elsewhere


@pytest.mark.parametrize("stack", ["embedded"])
async def test_exchange_verify_and_follow_check_an_entry_on_behalf(service: Service, tmp_path: Path) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    await admin.add_participant(
        service.services.repository, service.services.validator, "KEN", "Kenya", "member_state", []
    )
    record_id, law = example("law", "ken-computer-misuse-and-cybercrimes-act-2018")
    await service.submit_and_wait(editor.submission(law, record_id=record_id, on_behalf_of="KEN"))
    await service.client.get("/v1/log/checkpoint")
    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    code, out, err = await exchange("verify", url_of(service), "--token", auditor, "--quiet")
    assert code == 0, out + err
    assert "1 record version(s) matched to their signed payloads" in out, out
    code, out, err = await exchange(
        "follow", url_of(service), "--out", str(tmp_path / "copy"), "--once", "--mode", "pull"
    )
    assert code == 0, out + err
    assert "1 change(s) verified and written" in err, err


async def test_the_state_endorses_the_version_entered_for_it(service: Service) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    kenya = await register(service.services, "KEN")
    record_id, law = example("law", "ken-computer-misuse-and-cybercrimes-act-2018")
    entered = await service.submit_and_wait(editor.submission(law, record_id=record_id, on_behalf_of="KEN"))
    version = await get(service, f"/v1/records/KEN/law/{record_id}/versions/1")
    payload = endorse_payload(
        participant="KEN",
        audience=kenya.audience,
        kind="law",
        record_id=record_id,
        version=1,
        jws_sha256=version["provenance"]["jws_sha256"],
    )
    endorsed = await service.submit_and_wait(kenya.sign_payload(payload))
    assert (endorsed["status"], endorsed["record"], endorsed["version"]) == ("accepted", f"KEN/law/{record_id}", 1)
    provenance = (await get(service, f"/v1/records/KEN/law/{record_id}"))["provenance"]
    assert [(e["by"], e["log_index"]) for e in provenance["endorsements"]] == [(kenya.key.kid, endorsed["log_index"])]
    assert (await get(service, "/v1/changes"))["last_seq"] == 1  # an endorsement changes no record
    [logged] = (await get(service, "/v1/log/entries", start=endorsed["log_index"], end=endorsed["log_index"] + 1))[
        "entries"
    ]
    entry = json.loads(base64.b64decode(logged["entry"]))
    assert (entry["type"], entry["endorsed_jws_sha256"]) == ("endorsement", entered["jws_sha256"])

    wrong = endorse_payload(
        participant="KEN", audience=kenya.audience, kind="law", record_id=record_id, version=1, jws_sha256="0" * 64
    )
    refused = await service.submit_and_wait(kenya.sign_payload(wrong))
    assert (refused["status"], refused["errors"][0]["rule"]) == ("rejected", "endorse:not-found")
    missing = await service.submit_and_wait(
        kenya.sign_payload(
            {
                **payload,
                "submission_id": str(uuid.uuid4()),
                "endorse": {"version": 2, "jws_sha256": entered["jws_sha256"]},
            }
        )
    )
    assert missing["errors"][0]["rule"] == "endorse:not-found"


@pytest.mark.parametrize("stack", ["embedded"])
async def test_endorse_from_the_command_line_and_verify_it(service: Service, tmp_path: Path) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    kenya = await register(service.services, "KEN")
    token, _ = await admin.create_token(service.services.repository, "participant", "KEN")
    key_file = tmp_path / "ken.pem"
    key_file.write_bytes(kenya.key.private_pem())
    record_id, law = example("law", "ken-computer-misuse-and-cybercrimes-act-2018")
    await service.submit_and_wait(editor.submission(law, record_id=record_id, on_behalf_of="KEN"))
    common = ("--url", url_of(service), "--kid", kenya.key.kid, "--key", str(key_file), "--token", token)
    code, out, err = await exchange("endorse", f"KEN/law/{record_id}", "--version", "1", *common)
    assert code == 0 and out.startswith(f"endorsed KEN/law/{record_id} version 1"), out + err
    code, out, err = await exchange("endorse", f"KEN/law/{record_id}", "--version", "2", *common)
    assert code == 1, out + err
    await service.client.get("/v1/log/checkpoint")
    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    code, out, err = await exchange("verify", url_of(service), "--token", auditor, "--quiet")
    assert code == 0, out + err
    assert "1 endorsement(s) by their owners" in out, out


@pytest.mark.parametrize("stack", ["embedded"])
@pytest.mark.settings(review=("GBR",))
async def test_exchange_verify_finds_hidden_endorsements_and_unreviewed_publications(service: Service) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    kenya = await register(service.services, "KEN")
    record_id, law = example("law", "ken-computer-misuse-and-cybercrimes-act-2018")
    entered = await service.submit_and_wait(editor.submission(law, record_id=record_id, on_behalf_of="KEN"))
    payload = endorse_payload(
        participant="KEN",
        audience=kenya.audience,
        kind="law",
        record_id=record_id,
        version=1,
        jws_sha256=entered["jws_sha256"],
    )
    assert (await service.submit_and_wait(kenya.sign_payload(payload)))["status"] == "accepted"
    gbr_id, gbr_law = example("law", "gbr-computer-misuse-act-1990")
    held = await service.submit_and_wait(service.signer.submission(gbr_law, record_id=gbr_id))
    assert held["status"] == "pending_review"
    await service.client.get("/v1/log/checkpoint")
    path = service.services.settings.sqlite_path
    assert path is not None
    with sqlite3.connect(path) as db:
        db.execute("UPDATE record_versions SET endorsements = NULL")  # the endorsement hidden
        db.execute("UPDATE submissions SET status = 'accepted' WHERE status = 'pending_review'")  # never reviewed
    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    code, out, err = await exchange("verify", url_of(service), "--token", auditor, "--quiet")
    assert code == 1, out + err
    assert f"endorses KEN/law/{record_id} v1, whose provenance does not list it" in out, out
    assert f"submission GBR/{held['submission_id']}" in out and "no review entry of the log decides it" in out, out


@pytest.mark.parametrize("stack", ["embedded"])
async def test_an_editor_enters_a_file_on_behalf_from_the_command_line(service: Service, tmp_path: Path) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    await admin.add_participant(
        service.services.repository, service.services.validator, "KEN", "Kenya", "member_state", []
    )
    token, _ = await admin.create_token(service.services.repository, "editor", "org:secretariat")
    key_file = tmp_path / "editor.pem"
    key_file.write_bytes(editor.key.private_pem())
    record_id, law = example("law", "ken-computer-misuse-and-cybercrimes-act-2018")
    law_file = tmp_path / f"{record_id}.json"
    law_file.write_text(json.dumps(law), encoding="utf-8")
    code, out, err = await exchange(
        "submit", str(law_file), "--kind", "law", "--on-behalf-of", "KEN",
        "--url", url_of(service), "--kid", editor.key.kid, "--key", str(key_file), "--token", token,
    )  # fmt: skip
    assert code == 0, out + err
    assert f"accepted KEN/law/{record_id} version 1" in out, out
