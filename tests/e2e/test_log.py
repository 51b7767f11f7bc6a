"""The transparency log over HTTP: receipts verify offline, with code written apart from the log's."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import rfc8785

from exchange import admin
from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.transparency.note import NoteSigner, parse_checkpoint, verify_note
from exchange.transparency.verify import verify_consistency, verify_inclusion
from tests.e2e.conftest import Service, register, start_service
from tests.support import example_for, shared_path


def leaf(entry: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(b"\x00" + entry).digest()


async def accepted(service: Service, n: int) -> list[dict[str, Any]]:
    record_id, record = example_for("law", "GBR")
    return [
        await service.submit_and_wait(service.signer.submission(record, record_id=f"{record_id}-{i}")) for i in range(n)
    ]


async def test_receipt_verifies_offline(service: Service) -> None:
    verdicts = await accepted(service, 3)
    info = await (await service.client.get("/v1/info")).json()
    for verdict in verdicts:
        url = verdict["links"]["receipt"]
        receipt = await (await service.client.get(url)).json()
        entry = base64.b64decode(receipt["entry"])
        assert rfc8785.dumps(json.loads(entry)) == entry
        fields = json.loads(entry)
        assert fields["submission_id"] == verdict["submission_id"] and fields["outcome"] == "accepted"
        assert fields["index"] == receipt["log_index"] == verdict["log_index"]
        origin, size, root = parse_checkpoint(verify_note(receipt["checkpoint"], info["log_verifier_key"]))
        assert origin == info["log_origin"] == "repository.test"
        verify_inclusion(
            receipt["log_index"], size, leaf(entry), [base64.b64decode(h) for h in receipt["inclusion_proof"]], root
        )


def _log_key_without_plus(path: Path) -> None:
    """An Ed25519 log key whose verifier key has no '+' in its base64 (the interop tool splits on every '+')."""
    while True:
        key = SigningKey.generate("repository/log")
        if "+" not in NoteSigner("repository.test", key.private_key).verifier_key.split("+", 2)[2]:  # type: ignore[arg-type]
            path.write_bytes(key.private_pem())
            return


async def test_receipt_verifies_with_the_independent_interop_tool(tmp_path: Path) -> None:
    folder = shared_path("interop")
    _log_key_without_plus(tmp_path / "log.pem")
    client, services = await start_service(tmp_path / "data", {"log_key_file": tmp_path / "log.pem"})
    try:
        signer = await register(services, "GBR")
        auditor, _ = await admin.create_token(services.repository, "auditor", None)
        record_id, record = example_for("law", "GBR")
        response = await client.post(
            "/v1/submissions",
            data=signer.submission(record, record_id=record_id),
            headers={"Content-Type": FLATTENED_MEDIA_TYPE},
        )
        ack = await response.json()
        for _ in range(500):
            state = await (
                await client.get(ack["links"]["status"], headers={"Authorization": f"Bearer {auditor}"})
            ).json()
            if state["status"] != "received":
                break
            await asyncio.sleep(0.02)
        receipt = await (await client.get(state["links"]["receipt"])).json()
        info = await (await client.get("/v1/info")).json()
    finally:
        await client.close()
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    result = subprocess.run(
        [sys.executable, "verify_receipt.py", str(path), info["log_verifier_key"]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok: entry {receipt['log_index']} is in repository.test" in result.stdout
    receipt["inclusion_proof"] = [*receipt["inclusion_proof"][:-1], base64.b64encode(b"\x00" * 32).decode()]
    path.write_text(json.dumps(receipt))
    tampered = subprocess.run(
        [sys.executable, "verify_receipt.py", str(path), info["log_verifier_key"]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tampered.returncode != 0


async def test_proofs_and_checkpoints_are_consistent(service: Service) -> None:
    await accepted(service, 2)
    first = await (await service.client.get("/v1/log/checkpoint")).text()
    info = await (await service.client.get("/v1/info")).json()
    _, old, old_root = parse_checkpoint(verify_note(first, info["log_verifier_key"]))
    await accepted(service, 3)
    second = await (await service.client.get("/v1/log/checkpoint")).text()
    _, new, new_root = parse_checkpoint(verify_note(second, info["log_verifier_key"]))
    assert new > old
    proof = await (await service.client.get("/v1/log/proof/consistency", params={"old": old, "new": new})).json()
    verify_consistency(old, new, old_root, new_root, [base64.b64decode(h) for h in proof["proof"]])
    entries = await (await service.client.get("/v1/log/entries", params={"start": 0, "end": new})).json()
    assert [e["index"] for e in entries["entries"]] == list(range(new))
    kinds = [json.loads(base64.b64decode(e["entry"]))["type"] for e in entries["entries"]]
    assert kinds[0] == "key"  # the State's key registration is the first entry
    for e in entries["entries"]:
        body = await (
            await service.client.get("/v1/log/proof/inclusion", params={"index": e["index"], "size": new})
        ).json()
        assert base64.b64decode(body["root"]) == new_root
        verify_inclusion(
            e["index"], new, leaf(base64.b64decode(e["entry"])), [base64.b64decode(h) for h in body["proof"]], new_root
        )
    listed = await (await service.client.get("/v1/log/checkpoints")).json()
    assert [c["size"] for c in listed["checkpoints"]] == sorted({old, new})
    bad = await service.client.get("/v1/log/proof/inclusion", params={"index": new, "size": new})
    assert bad.status == 422
    beyond = await service.client.get("/v1/log/proof/consistency", params={"old": 1, "new": new + 5})
    assert beyond.status == 422

    # every proof of a page in one request, the same as one by one
    wanted = ",".join(str(e["index"]) for e in reversed(entries["entries"]))
    many = await (await service.client.get("/v1/log/proofs/inclusion", params={"index": wanted, "size": new})).json()
    assert (many["size"], base64.b64decode(many["root"])) == (new, new_root)
    assert [p["index"] for p in many["proofs"]] == list(reversed(range(new)))
    for item in many["proofs"]:
        entry = base64.b64decode(entries["entries"][item["index"]]["entry"])
        verify_inclusion(item["index"], new, leaf(entry), [base64.b64decode(h) for h in item["proof"]], new_root)
    for params in ({"index": f"0,{new}", "size": new}, {"index": ",".join(["0"] * 1001), "size": new}, {"size": new}):
        refused = await service.client.get("/v1/log/proofs/inclusion", params=params)
        assert refused.status == 422, params


async def test_rejected_submission_has_a_receipt_for_its_owner(service: Service) -> None:
    record_id, record = example_for("law", "GBR")
    broken = {**record, "status": "unknown-status"}
    verdict = await service.submit_and_wait(service.signer.submission(broken, record_id=record_id))
    assert verdict["status"] == "rejected"
    url = verdict["links"]["receipt"]
    assert (await service.client.get(url)).status == 401
    receipt = await (await service.client.get(url, headers=service.auth)).json()
    assert json.loads(base64.b64decode(receipt["entry"]))["outcome"] == "rejected"


async def test_log_key_rotation_cosigns_checkpoints(tmp_path: Path) -> None:
    """With the previous key configured, checkpoints carry both signatures: old and new verifiers agree."""
    old = SigningKey.generate("repository/log")
    (tmp_path / "old.pem").write_bytes(old.private_pem())
    client, services = await start_service(tmp_path / "data", {"log_previous_key_file": tmp_path / "old.pem"})
    try:
        await register(services, "GBR")
        info = await (await client.get("/v1/info")).json()
        assert len(info["log_verifier_keys"]) == 2
        new_key, old_key = info["log_verifier_keys"]
        assert info["log_verifier_key"] == new_key
        assert old_key == NoteSigner("repository.test", old.private_key).verifier_key  # type: ignore[arg-type]
        note = await (await client.get("/v1/log/checkpoint")).text()
        assert note.count("\u2014 repository.test ") == 2
        assert parse_checkpoint(verify_note(note, new_key)) == parse_checkpoint(verify_note(note, old_key))
    finally:
        await client.close()
