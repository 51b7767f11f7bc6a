"""``exchange verify`` as an auditor runs it, in its own process, against a real repository.

A clean history passes; then each kind of tampering with the stored data, done directly in the
embedded SQLite file as an intruder or a faulty operator would, is caught and named.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from exchange.transparency.merkle import root_nodes
from tests.e2e.conftest import Service
from tests.e2e.test_audit import History, populate

embedded_only = pytest.mark.parametrize("stack", ["embedded"])


async def exchange(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``python -m exchange ARGS`` in its own process (with no settings but ``env``), while this test's
    event loop keeps serving."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}, **(env or {})}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exchange",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def url_of(service: Service) -> str:
    return str(service.client.make_url("")).rstrip("/")


async def verify(service: Service, history: History, *extra: str) -> tuple[int, str]:
    code, out, err = await exchange("verify", url_of(service), "--token", history.auditor, "--quiet", *extra)
    assert code in (0, 1), out + err
    return code, out


def body_of(report: str) -> list[str]:
    """The report without its first line (which names the source)."""
    return report.splitlines()[1:]


def database(service: Service) -> sqlite3.Connection:
    path = service.services.settings.sqlite_path
    assert path is not None and path.exists()
    return sqlite3.connect(path, timeout=10, isolation_level=None)


def tamper(service: Service, sql: str, *args: Any) -> None:
    with database(service) as conn:
        assert conn.execute(sql, args).rowcount == 1


def sizes_after(service: Service, index: int) -> list[int]:
    conn = database(service)
    try:
        return [r[0] for r in conn.execute("SELECT size FROM log_checkpoints WHERE size > ? ORDER BY size", (index,))]
    finally:
        conn.close()


def one(service: Service, sql: str, *args: Any) -> Any:
    conn = database(service)
    try:
        row = conn.execute(sql, args).fetchone()
    finally:
        conn.close()
    assert row is not None
    return row


async def test_verify_passes_on_a_real_history(service: Service, tmp_path: Path) -> None:
    history = await populate(service)
    code, report = await verify(service, history, "--out", str(tmp_path / "audit"))
    assert code == 0, report
    assert "OK: every check holds" in report
    assert "9 (8 accepted, 1 rejected), 9 signature(s) verified" in report
    assert "8 record version(s) matched to their signed payloads" in report
    assert "4 in the directory; 4 addition(s) and 1 revocation(s) in the log" in report
    assert "14 entries, 4 signed checkpoint(s) (newest size 14), 3 consistency proof(s)" in report
    assert sorted(p.name for p in (tmp_path / "audit").iterdir()) == [
        "checkpoints.ndjson",
        "entries.ndjson",
        "export.ndjson",
        "info.json",
        "keys.json",
        "manifest.json",
        "proofs.ndjson",
    ]

    offline_code, offline, _ = await exchange("verify", str(tmp_path / "audit"), "--quiet")
    assert offline_code == 0 and body_of(offline) == body_of(report), offline

    code, out, err = await exchange(
        "audit", "export", url_of(service), "--token", history.auditor, "--out", str(tmp_path / "export"), "--quiet"
    )
    assert code == 0, err
    assert out.strip() == str(tmp_path / "export") and "log size 14" in err
    exported_code, exported, _ = await exchange("verify", str(tmp_path / "export"), "--quiet")
    assert exported_code == 0 and body_of(exported) == body_of(report), exported


@embedded_only
async def test_an_altered_jws_byte_is_caught(service: Service) -> None:
    history = await populate(service)
    victim = history.of("ZAF/law/zaf-cybercrimes-act-2020", 1)
    (body,) = one(service, "SELECT body FROM submissions WHERE submission_id = ?", victim["submission_id"])
    jws = json.loads(body)
    payload = jws["payload"]
    jws["payload"] = payload[:40] + ("A" if payload[40] != "A" else "B") + payload[41:]
    tamper(
        service,
        "UPDATE submissions SET body = ? WHERE submission_id = ?",
        json.dumps(jws).encode(),
        victim["submission_id"],
    )
    code, report = await verify(service, history)
    assert code == 1, report
    where = f"submission ZAF/{victim['submission_id']} (log index {victim['log_index']})"
    assert f"{where}: the stored JWS bytes hash to" in report
    assert f"{where}: the signature does not verify with key 'ZAF/k1'" in report
    assert "record version ZAF/law/zaf-cybercrimes-act-2020 v1" in report  # its content is now unverifiable


@embedded_only
async def test_an_edited_record_version_is_caught(service: Service, tmp_path: Path) -> None:
    history = await populate(service)
    (content,) = one(service, "SELECT content FROM record_versions WHERE participant = 'ZAF' AND version = 2")
    record = json.loads(content)
    record["status"] = "repealed"
    tamper(
        service,
        "UPDATE record_versions SET content = ? WHERE participant = 'ZAF' AND version = 2",
        json.dumps(record),
    )
    code, report = await verify(service, history, "--out", str(tmp_path / "audit"))
    assert code == 1, report
    verdict = history.of("ZAF/law/zaf-cybercrimes-act-2020", 2)
    assert (
        f"record version ZAF/law/zaf-cybercrimes-act-2020 v2 (log index {verdict['log_index']}): "
        f"its content differs from the record signed in submission ZAF/{verdict['submission_id']}"
    ) in report
    assert report.count("\n  - ") == 1, report  # nothing else is wrong
    offline_code, offline, _ = await exchange("verify", str(tmp_path / "audit"), "--quiet")
    assert offline_code == 1 and body_of(offline) == body_of(report)


@embedded_only
async def test_an_altered_log_entry_is_caught(service: Service) -> None:
    history = await populate(service)
    victim = history.of("GBR/law/gbr-computer-misuse-act-1990", 2)
    index = victim["log_index"]
    (entry,) = one(service, "SELECT entry FROM log_entries WHERE idx = ?", index)
    fields = json.loads(entry)
    digest = fields["jws_sha256"]
    forged = bytes(entry).replace(digest.encode(), (("0" if digest[0] != "0" else "1") + digest[1:]).encode())
    assert forged != bytes(entry)
    tamper(service, "UPDATE log_entries SET entry = ? WHERE idx = ?", forged, index)
    code, report = await verify(service, history)
    assert code == 1, report
    (matched,) = one(service, "SELECT max(size) FROM log_checkpoints WHERE size <= ?", index)
    assert f"the root recomputed from log entries 0..{sizes_after(service, index)[0] - 1}" in report
    assert f"(one of entries {matched}..{sizes_after(service, index)[0] - 1} is not what was signed)" in report
    assert f"submission GBR/{victim['submission_id']} (log index {index}): jws_sha256 is" in report


@embedded_only
@pytest.mark.parametrize("part", ["note", "root"])
async def test_an_altered_checkpoint_is_caught(service: Service, part: str) -> None:
    history = await populate(service)
    sizes = [row[0] for row in database(service).execute("SELECT size FROM log_checkpoints ORDER BY size")]
    size = sizes[1]
    if part == "note":
        (note,) = one(service, "SELECT note FROM log_checkpoints WHERE size = ?", size)
        lines = note.split("\n")
        lines[2] = base64.b64encode(b"\x07" * 32).decode()  # the root line of the signed body
        tamper(service, "UPDATE log_checkpoints SET note = ? WHERE size = ?", "\n".join(lines), size)
    else:
        tamper(service, "UPDATE log_checkpoints SET root = ? WHERE size = ?", b"\x07" * 32, size)
    code, report = await verify(service, history)
    assert code == 1, report
    if part == "note":
        assert f"checkpoint {size}: its signature does not verify with the log's verifier key" in report
        assert report.count("\n  - ") == 1, report  # nothing in an unsigned note is used
    else:
        assert f"checkpoint {size}: the root listed beside it differs from the root its note signs" in report


@embedded_only
async def test_an_altered_tree_node_is_caught(service: Service) -> None:
    history = await populate(service)
    (size,) = one(service, "SELECT max(size) FROM log_checkpoints")
    level, index = root_nodes(size)[0]
    tamper(service, "UPDATE log_nodes SET hash = ? WHERE level = ? AND idx = ?", b"\x07" * 32, level, index)
    code, report = await verify(service, history)
    assert code == 1, report
    assert f"checkpoint {size}: the root the server computes now for this size differs from the signed root" in report
    assert "the root recomputed from log entries" not in report  # the entries themselves are intact


async def test_receipt_mode(service: Service, tmp_path: Path) -> None:
    history = await populate(service)
    verdict = history.of("ZAF/law/zaf-cybercrimes-act-2020", 2)
    base = f"/v1/submissions/ZAF/{verdict['submission_id']}"
    receipt = await (await service.client.get(f"{base}/receipt")).json()
    info = await (await service.client.get("/v1/info")).json()
    jws = await (await service.client.get(f"{base}/jws")).read()
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "info.json").write_text(json.dumps(info))
    (tmp_path / "submission.jws").write_bytes(jws)

    code, out, err = await exchange(
        "verify", "--receipt", str(tmp_path / "receipt.json"), "--log-key", info["log_verifier_key"]
    )
    assert code == 0, out + err
    assert out.startswith(f"ok: entry {verdict['log_index']} (submission ZAF/{verdict['submission_id']} accepted")
    code, out, _ = await exchange(
        "verify",
        "--receipt",
        str(tmp_path / "receipt.json"),
        "--info",
        str(tmp_path / "info.json"),
        "--jws",
        str(tmp_path / "submission.jws"),
    )
    assert code == 0, out

    provenance = await (
        await service.client.get(
            "/v1/audit/records/ZAF/law/zaf-cybercrimes-act-2020/versions/2",
            headers={"Authorization": f"Bearer {history.auditor}"},
        )
    ).json()
    (tmp_path / "provenance.json").write_text(json.dumps(provenance))
    code, out, _ = await exchange(
        "verify", "--receipt", str(tmp_path / "provenance.json"), "--info", str(tmp_path / "info.json")
    )
    assert code == 0, out

    other = history.of("GBR/law/gbr-computer-misuse-act-1990", 1)
    other_jws = await (await service.client.get(f"/v1/submissions/GBR/{other['submission_id']}/jws")).read()
    (tmp_path / "other.jws").write_bytes(other_jws)
    code, out, _ = await exchange(
        "verify", "--receipt", str(tmp_path / "receipt.json"), "--info", str(tmp_path / "info.json"),
        "--jws", str(tmp_path / "other.jws"),
    )  # fmt: skip
    assert code == 1 and "does not hash to the jws_sha256" in out

    tampered = dict(receipt)
    tampered["inclusion_proof"] = [base64.b64encode(b"\x00" * 32).decode(), *receipt["inclusion_proof"][1:]]
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    code, out, _ = await exchange(
        "verify", "--receipt", str(tmp_path / "tampered.json"), "--log-key", info["log_verifier_key"]
    )
    assert code == 1 and "FAILED" in out and "the inclusion proof does not verify" in out

    entry = json.loads(base64.b64decode(receipt["entry"]))
    entry["record"] = "ZAF/law/something-else"
    forged = dict(
        receipt, entry=base64.b64encode(json.dumps(entry, separators=(",", ":"), sort_keys=True).encode()).decode()
    )
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, out, _ = await exchange(
        "verify", "--receipt", str(tmp_path / "forged.json"), "--info", str(tmp_path / "info.json")
    )
    assert code == 1 and "the inclusion proof does not verify" in out

    code, out, _ = await exchange(
        "verify", "--receipt", str(tmp_path / "receipt.json"), "--log-key", "other.test+01020304+AQ=="
    )
    assert code == 1 and "the checkpoint does not verify" in out


@embedded_only
async def test_verify_exit_status_3_when_the_repository_cannot_be_read(service: Service, tmp_path: Path) -> None:
    code, _, err = await exchange("verify", "http://127.0.0.1:9", "--quiet")
    assert code == 3 and "cannot read the repository at http://127.0.0.1:9" in err
    code, _, err = await exchange("verify", url_of(service), "--quiet")  # no token: the export is refused
    assert code == 3 and "answered 401" in err and "--token" in err
    code, _, err = await exchange("verify", str(tmp_path / "nowhere"), "--quiet")
    assert code == 3 and "is not a directory" in err
