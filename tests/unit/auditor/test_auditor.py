"""The offline auditor on audit directories built here from the real primitives, one fault at a time."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange import ijson, provenance, times
from exchange.auditor import fetch, layout, parallel
from exchange.auditor.receipt import ReceiptError, verify_receipt
from exchange.auditor.report import Report
from exchange.auditor.run import verify_directory
from exchange.auditor.source import SourceError, file_sha256
from exchange.envelope import SigningKey, sha256_hex
from exchange.models import AuditedSubmission, RecordKey, RecordVersion, SubmissionState
from exchange.publickeys import PublicKey
from exchange.transparency.entries import key_entry, submission_entry
from exchange.transparency.merkle import MemoryNodeStore
from exchange.transparency.note import NoteSigner, checkpoint_body
from exchange.transport import ResponseTooLarge
from tests.loopback import flood, serve

ORIGIN = "https://repository.test"
LOG_ORIGIN = "repository.test"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Audit:
    """An audit directory's contents, before they are written: tests change them, then write."""

    log_key: NoteSigner
    info: dict[str, Any]
    keys: list[dict[str, Any]]
    entries: list[bytes]
    checkpoints: list[dict[str, Any]]
    proofs: list[dict[str, Any]]
    export: list[dict[str, Any]]
    signer: SigningKey
    skip: set[int] = field(default_factory=set)  # entries the "server" leaves out

    def sign_checkpoints(self, sizes: list[int]) -> None:
        """(Re)compute checkpoints and the server's proofs from the entries as they now are."""
        tree = MemoryNodeStore()
        tree.append(self.entries)
        self.checkpoints = []
        for size in sizes:
            root = tree.root(size)
            note = self.log_key.sign(checkpoint_body(LOG_ORIGIN, size, root))
            self.checkpoints.append({"size": size, "root": b64(root), "note": note, "signed_at": "x"})
        self.proofs = [
            {"type": "consistency", "old": a, "new": b, "proof": [b64(h) for h in tree.consistency(a, b)]}
            for a, b in itertools.pairwise(sizes)
            if a > 0
        ]
        last = sizes[-1]
        self.proofs.append(
            {
                "type": "inclusion",
                "index": last - 1,
                "size": last,
                "root": b64(tree.root(last)),
                "proof": [b64(h) for h in tree.inclusion(last - 1, last)],
            }
        )

    def write(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)

        def ndjson(name: str, rows: list[dict[str, Any]]) -> None:
            (path / name).write_bytes(b"".join(ijson.dumps(r) + b"\n" for r in rows))

        (path / layout.INFO).write_bytes(ijson.dumps(self.info))
        (path / layout.KEYS).write_bytes(ijson.dumps({"keys": self.keys}))
        ndjson(layout.CHECKPOINTS, self.checkpoints)
        ndjson(layout.PROOFS, self.proofs)
        ndjson(
            layout.ENTRIES, [{"index": i, "entry": b64(e)} for i, e in enumerate(self.entries) if i not in self.skip]
        )
        ndjson(layout.EXPORT, self.export)
        manifest = {
            "format": layout.FORMAT,
            "signed_size": self.checkpoints[-1]["size"] if self.checkpoints else 0,
            "files": {name: file_sha256(path / name) for name in layout.FILES},
        }
        (path / layout.MANIFEST).write_text(json.dumps(manifest))
        return path


def build() -> Audit:
    """Key added; r1 v1, r1 v2, a rejection, r2 v1 withdrawn as v2; the key revoked; two checkpoints."""
    log_key = NoteSigner(LOG_ORIGIN, Ed25519PrivateKey.generate())
    signer = SigningKey.generate("GBR/k1")
    key = PublicKey("GBR/k1", "GBR", "Ed25519", signer.public_jwk, valid_from=T0)
    entries = [
        key_entry(
            index=0, action="added", kid=key.kid, participant="GBR", jwk_thumbprint=key.thumbprint, at=times.iso(T0)
        )
    ]
    submissions: list[AuditedSubmission] = []
    versions: list[RecordVersion] = []
    plan: list[tuple[str, str, Any, str]] = [
        ("r1", "upsert", {"title": "first"}, "accepted"),
        ("r1", "upsert", {"title": "second", "n": 1.5}, "accepted"),
        ("r1", "upsert", {"title": 3}, "rejected"),
        ("r2", "upsert", {"title": "other"}, "accepted"),
        ("r2", "withdraw", None, "accepted"),
    ]
    current: dict[str, int] = {}
    for n, (record_id, action, record, outcome) in enumerate(plan):
        received = times.iso(T0 + timedelta(minutes=n + 1))
        payload: dict[str, Any] = {
            "submission_id": f"00000000-0000-4000-8000-00000000000{n}",
            "participant": "GBR",
            "audience": ORIGIN,
            "created_at": received[:19] + "Z",
            "action": action,
            "kind": "law",
            "schema": "law/1",
            "record_id": record_id,
        }
        if record is not None:
            payload["record"] = record
        payload_bytes = ijson.dumps(payload)
        body = ijson.dumps(signer.sign_jws(payload_bytes))
        index = len(entries)
        accepted = outcome == "accepted"
        version = current.get(record_id, 0) + 1 if accepted else None
        key_name = f"GBR/law/{record_id}"
        entries.append(
            submission_entry(
                index=index,
                submission_id=payload["submission_id"],
                participant="GBR",
                kid=signer.kid,
                jws_sha256=sha256_hex(body),
                payload_sha256=sha256_hex(payload_bytes),
                received_at=received,
                outcome="accepted" if accepted else "rejected",
                record=key_name if accepted else None,
                version=version,
            )
        )
        seq = len(versions) + 1 if accepted else None
        state = SubmissionState(
            participant="GBR",
            submission_id=payload["submission_id"],
            jws_sha256=sha256_hex(body),
            received_at=received,
            status="accepted" if accepted else "rejected",
            kind="law",
            kid=signer.kid,
            errors=[] if accepted else [{"pointer": "/record/title", "rule": "schema:type", "message": "no"}],
            record=key_name if accepted else None,
            version=version,
            seq=seq,
            log_index=index,
            decided_at=received,
            payload_sha256=sha256_hex(payload_bytes),
        )
        submissions.append(AuditedSubmission(state, body, "flattened"))
        if accepted and version is not None and seq is not None:
            current[record_id] = version
            versions.append(
                RecordVersion(
                    RecordKey("GBR", "law", record_id),
                    version,
                    "withdraw" if action == "withdraw" else "upsert",
                    "law/1",
                    record,
                    payload["submission_id"],
                    signer.kid,
                    sha256_hex(body),
                    received,
                    received,
                    index,
                    seq,
                )
            )
    revoked_at = T0 + timedelta(hours=1)
    entries.append(
        key_entry(
            index=len(entries),
            action="revoked",
            kid=key.kid,
            participant="GBR",
            jwk_thumbprint=key.thumbprint,
            at=times.iso(revoked_at),
        )
    )
    revoked = PublicKey("GBR/k1", "GBR", "Ed25519", signer.public_jwk, valid_from=T0, revoked_at=revoked_at)
    export = [provenance.submission_line(s) for s in submissions] + [provenance.version_line(v) for v in versions]
    export.append({"type": "end", "submissions": len(submissions), "versions": len(versions)})
    info = {
        "origin": ORIGIN,
        "log_origin": LOG_ORIGIN,
        "log_verifier_key": log_key.verifier_key,
        "log_verifier_keys": [log_key.verifier_key],
    }
    result = Audit(log_key, info, [revoked.to_jwk()], entries, [], [], export, signer)
    result.sign_checkpoints([3, len(entries)])
    return result


def check(tmp_path: Path, change: Callable[[Audit], None] | None = None) -> Report:
    built = build()
    if change is not None:
        change(built)
    return verify_directory(built.write(tmp_path / "audit"))


def findings(report: Report) -> str:
    return "\n".join(str(f) for f in report.findings)


def test_a_faithful_history_passes(tmp_path: Path) -> None:
    report = check(tmp_path)
    assert report.ok, findings(report)
    c = report.counts
    assert (c["entries"], c["checkpoints"], c["consistency_proofs"], c["roots_recomputed"]) == (7, 2, 1, 2)
    assert (c["submissions"], c["accepted"], c["rejected"], c["signatures_verified"]) == (5, 4, 1, 5)
    assert (c["keys"], c["key_added"], c["key_revoked"], c["versions"]) == (1, 1, 1, 4)
    assert "OK: every check holds" in report.render("here")
    assert verify_directory(tmp_path / "audit", progress=True).ok  # the same, with progress bars on stderr


def _entry(built: Audit, index: int) -> dict[str, Any]:
    return dict(json.loads(built.entries[index]))


def _set_entry(built: Audit, index: int, fields: dict[str, Any], *, resign: bool = False) -> None:
    built.entries[index] = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()
    if resign:  # a log that signs what it was given: only the cross-checks can tell
        built.sign_checkpoints([c["size"] for c in built.checkpoints])


def _line(built: Audit, kind: str, n: int) -> dict[str, Any]:
    return [line for line in built.export if line["type"] == kind][n]


def _not_canonical(built: Audit) -> None:
    built.entries[1] = built.entries[1].replace(b'"v":1', b'"v": 1')


def _wrong_index(built: Audit) -> None:
    _set_entry(built, 2, {**_entry(built, 2), "index": 5}, resign=True)


def _outcome_flipped(built: Audit) -> None:
    fields = _entry(built, 3)
    fields.update(outcome="accepted", record="GBR/law/r1", version=3)
    _set_entry(built, 3, fields, resign=True)


def _entry_dropped(built: Audit) -> None:
    built.skip.add(4)


def _checkpoint_forged(built: Audit) -> None:
    other = NoteSigner(LOG_ORIGIN, Ed25519PrivateKey.generate())
    body = built.checkpoints[1]["note"].split("\n\n")[0] + "\n"
    built.checkpoints[1]["note"] = other.sign(body)


def _checkpoints_shrink(built: Audit) -> None:
    built.checkpoints.reverse()


def _consistency_forged(built: Audit) -> None:
    built.proofs[0]["proof"][0] = b64(b"\x01" * 32)


def _served_root_forged(built: Audit) -> None:
    built.proofs[-1]["root"] = b64(b"\x02" * 32)


def _key_missing(built: Audit) -> None:
    built.keys = []


def _key_swapped(built: Audit) -> None:
    other = SigningKey.generate("GBR/k1")
    built.keys[0].update(other.public_jwk, thumbprint=None)


def _revocation_time_differs(built: Audit) -> None:
    built.keys[0]["revoked_at"] = times.iso(T0 + timedelta(hours=2))


def _revoked_before_use(built: Audit) -> None:
    built.keys[0]["revoked_at"] = times.iso(T0 + timedelta(seconds=30))


def _submission_missing(built: Audit) -> None:
    built.export.remove(_line(built, "submission", 1))
    built.export[-1]["submissions"] -= 1


def _jws_replaced(built: Audit) -> None:
    line = _line(built, "submission", 0)
    jws = json.loads(base64.b64decode(line["jws"]))
    jws["signature"] = jws["signature"][:-4] + ("AAAA" if jws["signature"][-4:] != "AAAA" else "BBBB")
    line["jws"] = b64(json.dumps(jws).encode())


def _other_audience(built: Audit) -> None:
    built.info["origin"] = "https://elsewhere.test"


def _version_missing(built: Audit) -> None:
    built.export.remove(_line(built, "version", 1))
    built.export[-1]["versions"] -= 1


def _version_edited(built: Audit) -> None:
    _line(built, "version", 1)["content"] = {"title": "second", "n": 2.5}


def _withdrawal_given_content(built: Audit) -> None:
    _line(built, "version", 3)["content"] = {"title": "other"}


def _version_renumbered(built: Audit) -> None:
    _line(built, "version", 1)["version"] = 3


def _export_cut(built: Audit) -> None:
    built.export.pop()


FAULTS: list[tuple[Callable[[Audit], None], list[str]]] = [
    (_not_canonical, ["log entry 1: not RFC 8785 canonical JSON", "checkpoint 3: the root recomputed"]),
    (_wrong_index, ["log entry 2: carries index 5, not its position 2"]),
    (_outcome_flipped, ["(log index 3): the export says 'rejected' but the log entry records 'accepted'"]),
    (_entry_dropped, ["log entry 4: missing (the next entry listed is 5)"]),
    (_checkpoint_forged, ["checkpoint 7: its signature does not verify"]),
    (_checkpoints_shrink, ["checkpoint 3: sizes do not grow: size 3 comes after size 7"]),
    (_consistency_forged, ["checkpoint 7: the server's consistency proof from size 3 does not verify"]),
    (_served_root_forged, ["checkpoint 7: the root the server computes now for this size differs"]),
    (_key_missing, ["log entry 0 (key GBR/k1 added): the key is not in the key directory"]),
    (_key_swapped, ["its jwk_thumbprint is not the thumbprint of the key in the directory", "does not verify"]),
    (_revocation_time_differs, ["log entry 6 (key GBR/k1 revoked): revoked at 2026-11-01T10:00:00.000000Z in"]),
    (_revoked_before_use, ["(log index 2): key GBR/k1 was revoked when the submission was received"]),
    (
        _submission_missing,
        [
            "log entry 2: records the accepted submission GBR/00000000-0000-4000-8000-000000000001, "
            "which is missing from the export"
        ],
    ),
    (_jws_replaced, ["(log index 1): the stored JWS bytes hash to", "the signature does not verify with key"]),
    (_other_audience, ["signed for audience 'https://repository.test', not this repository"]),
    (_version_missing, ["log entry 2: accepts submission GBR/", "but the export has no such record version"]),
    (_version_edited, ["record version GBR/law/r1 v2 (log index 2): its content differs from the record signed"]),
    (_withdrawal_given_content, ["record version GBR/law/r2 v2 (log index 5): its content differs"]),
    (_version_renumbered, ["record version GBR/law/r1 v3 (log index 2): version 3 follows version 1"]),
    (_export_cut, ["export: has no end line: it was cut short"]),
]


@pytest.mark.parametrize(("change", "expected"), FAULTS, ids=[f.__name__.strip("_") for f, _ in FAULTS])
def test_each_fault_is_named(tmp_path: Path, change: Callable[[Audit], None], expected: list[str]) -> None:
    report = check(tmp_path, change)
    assert not report.ok
    text = findings(report)
    for phrase in expected:
        assert phrase in text, text
    assert "FAILED:" in report.render("here")


def test_a_rejection_for_its_signature_is_not_a_fault(tmp_path: Path) -> None:
    def bad_signature_rejected(built: Audit) -> None:
        _jws_replaced(built)
        line = _line(built, "submission", 0)
        body = base64.b64decode(line["jws"])
        fields = _entry(built, 1)
        fields.update(outcome="rejected", jws_sha256=sha256_hex(body))
        del fields["record"], fields["version"]
        _set_entry(built, 1, fields, resign=True)
        line.update(
            status="rejected",
            jws_sha256=sha256_hex(body),
            errors=[{"pointer": "", "rule": "signature", "message": "the signature does not verify"}],
        )
        built.export.remove(_line(built, "version", 0))
        built.export[-1]["versions"] -= 1
        for later in [ln for ln in built.export if ln["type"] == "version" and ln["record_id"] == "r1"]:
            later["version"] -= 1  # r1's versions as the repository would have numbered them

    report = check(tmp_path, bad_signature_rejected)
    text = findings(report)
    assert "the signature does not verify" not in text
    assert any("the recorded reason for its rejection" in note for note in report.notes)


def test_files_changed_after_the_export_are_noticed(tmp_path: Path) -> None:
    path = build().write(tmp_path / "audit")
    with (path / layout.EXPORT).open("ab") as handle:
        handle.write(b"\n")
    assert "export.ndjson changed after the export was written" in findings(verify_directory(path))
    (path / layout.MANIFEST).unlink()
    assert "the export did not finish" in findings(verify_directory(path))
    (path / layout.INFO).unlink()
    with pytest.raises(SourceError):
        verify_directory(path)


def test_a_checkpoint_of_the_empty_log_is_fine(tmp_path: Path) -> None:
    report = check(tmp_path, lambda built: built.sign_checkpoints([0, 3, 7]))
    assert report.ok, findings(report)
    assert report.counts["checkpoints"] == 3 and report.counts["consistency_proofs"] == 1


def test_entries_beyond_the_newest_checkpoint_are_left_for_the_next_audit(tmp_path: Path) -> None:
    def unsigned_tail(built: Audit) -> None:
        built.sign_checkpoints([3, 5])

    report = check(tmp_path, unsigned_tail)
    assert report.ok, findings(report)
    assert any("2 log entries beyond the newest signed checkpoint" in n for n in report.notes)
    assert any("submission(s) decided after the newest signed checkpoint" in n for n in report.notes)


# ---- receipts -------------------------------------------------------------------------------------------


def _receipt(built: Audit, index: int) -> dict[str, Any]:
    tree = MemoryNodeStore()
    tree.append(built.entries)
    size = len(built.entries)
    return {
        "log_index": index,
        "entry": b64(built.entries[index]),
        "inclusion_proof": [b64(h) for h in tree.inclusion(index, size)],
        "checkpoint": built.checkpoints[-1]["note"],
    }


def test_a_receipt_verifies_offline() -> None:
    built = build()
    receipt = _receipt(built, 2)
    body = base64.b64decode(_line(built, "submission", 1)["jws"])
    verified = verify_receipt(receipt, [built.log_key.verifier_key], body)
    assert verified.index == 2 and verified.size == 7 and verified.origin == LOG_ORIGIN
    assert "accepted as GBR/law/r1 version 2" in verified.describe()
    assert verify_receipt({"receipt": receipt}, [built.log_key.verifier_key]).index == 2
    assert "key GBR/k1 revoked" in verify_receipt(_receipt(built, 6), [built.log_key.verifier_key]).describe()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(log_index=3), "the entry carries index 2, the receipt 3"),
        (lambda r: r.update(entry=r["entry"][:-4] + "AAA="), "entry"),
        (lambda r: r["inclusion_proof"].reverse(), "the inclusion proof does not verify"),
        (lambda r: r.update(checkpoint=r["checkpoint"].replace("\n7\n", "\n8\n")), "the checkpoint does not verify"),
        (lambda r: r.pop("inclusion_proof"), "inclusion_proof missing"),
    ],
)
def test_a_tampered_receipt_is_refused(change: Callable[[dict[str, Any]], Any], message: str) -> None:
    built = build()
    receipt = copy.deepcopy(_receipt(built, 2))
    change(receipt)
    with pytest.raises(ReceiptError, match=message):
        verify_receipt(receipt, [built.log_key.verifier_key])


def test_a_receipt_needs_the_logs_own_key() -> None:
    built = build()
    stranger = NoteSigner(LOG_ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(ReceiptError, match="the checkpoint does not verify"):
        verify_receipt(_receipt(built, 2), [stranger.verifier_key])
    with pytest.raises(ReceiptError, match="JWS given does not hash"):
        verify_receipt(_receipt(built, 2), [built.log_key.verifier_key], b"{}")


def test_the_auditor_is_client_side_code() -> None:
    """It never loads the repository, the services or the gateway: it checks them from outside."""
    script = (
        "import sys, exchange.auditor.run, exchange.auditor.fetch, exchange.auditor.receipt, exchange.cli.verify\n"
        "bad = [m for m in sys.modules if m.startswith(('exchange.repository', 'exchange.services', "
        "'exchange.gateway', 'exchange.provenance.', 'exchange.sqlitedb', 'exchange.backends'))]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


async def test_an_endless_answer_stops_the_download_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that never stops answering gets a clear error, not the auditor's memory."""

    async def endless(request: web.Request) -> web.StreamResponse:
        return await flood(request, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/info", endless)
    monkeypatch.setattr(fetch, "MAX_JSON_BYTES", 1 << 20)
    async with serve(app) as url:
        with pytest.raises(ResponseTooLarge, match="longer than 1048576 bytes"):
            await fetch.download(url, tmp_path / "audit")
    assert not (tmp_path / "audit" / layout.MANIFEST).exists()


def _everything(report: Report) -> tuple[str, list[str], dict[str, int]]:
    return report.render("here"), list(report.notes), dict(report.counts)


@pytest.mark.parametrize(
    "change", [None, *(f for f, _ in FAULTS)], ids=["faithful", *(f.__name__.strip("_") for f, _ in FAULTS)]
)
def test_worker_processes_give_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[Audit], None] | None
) -> None:
    built = build()
    if change is not None:
        change(built)
    path = built.write(tmp_path / "audit")
    alone = verify_directory(path)
    monkeypatch.setattr(parallel, "MINIMUM", 1)
    monkeypatch.setattr(parallel, "CHUNK", 2)
    taken: list[parallel.Prechecked] = []
    take = parallel.Precheck.take

    def counted(self: parallel.Precheck, index: int, given: parallel.Inputs | None) -> parallel.Prechecked | None:
        result = take(self, index, given)
        taken.extend([result] if result is not None else [])
        return result

    monkeypatch.setattr(parallel.Precheck, "take", counted)
    spread = verify_directory(path)
    assert _everything(spread) == _everything(alone)
    assert taken or not alone.counts["signatures_verified"], "the workers checked nothing"
