"""One receipt, fully offline: ``{log_index, entry, inclusion_proof, checkpoint}`` and the log's key.

The checkpoint's note must verify with the log verifier key, the entry must be canonical JSON carrying
its own index, and the inclusion proof must lead from the entry's leaf hash to the signed root. With the
stored JWS at hand, its SHA-256 must be the ``jws_sha256`` the entry records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exchange import ijson
from exchange.auditor.logcheck import open_note
from exchange.auditor.source import b64decode
from exchange.auditor.witnesses import witnessed
from exchange.transparency.entries import CanonicalJSONError, canonical
from exchange.transparency.note import NoteError, parse_checkpoint
from exchange.transparency.verify import ProofError, verify_inclusion


class ReceiptError(ValueError):
    """The receipt does not verify; the message says why."""


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    origin: str
    size: int
    index: int
    entry: dict[str, Any]

    def describe(self) -> str:
        e = self.entry
        if e.get("type") == "key":
            what = f"key {e.get('kid')} {e.get('action')} at {e.get('at')}"
        else:
            what = f"submission {e.get('participant')}/{e.get('submission_id')} {e.get('outcome')}"
            if e.get("outcome") == "accepted":
                what += f" as {e.get('record')} version {e.get('version')}"
        return f"entry {self.index} ({what}) is in {self.origin} at tree size {self.size}"


def receipt_of(document: Any) -> dict[str, Any]:
    """The receipt in a document: a receipt itself, or a provenance document that holds one."""
    if isinstance(document, dict) and "log_index" not in document and isinstance(document.get("receipt"), dict):
        document = document["receipt"]
    if not isinstance(document, dict):
        raise ReceiptError("not a receipt: expected a JSON object")
    missing = [n for n in ("log_index", "entry", "inclusion_proof", "checkpoint") if n not in document]
    if missing:
        raise ReceiptError(f"not a receipt: {', '.join(missing)} missing")
    return document


def verify_receipt(
    document: Any,
    verifier_keys: list[str],
    jws: bytes | None = None,
    *,
    witnesses: Sequence[str] = (),
    quorum: int = 0,
) -> VerifiedReceipt:
    """Check a receipt against the log's verifier key(s); raise :class:`ReceiptError` if it fails.

    With ``witnesses``, its checkpoint must also carry ``quorum`` of their cosignatures.
    """
    receipt = receipt_of(document)
    index = receipt["log_index"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ReceiptError("log_index must be a non-negative integer")
    if not isinstance(receipt["checkpoint"], str):
        raise ReceiptError("checkpoint must be the signed note, as text")
    try:
        origin, size, root = parse_checkpoint(open_note(receipt["checkpoint"], verifier_keys))
    except NoteError as exc:
        raise ReceiptError(f"the checkpoint does not verify with the log's key: {exc}") from None
    if witnesses:
        try:
            witnessed(receipt["checkpoint"], witnesses, quorum)
        except NoteError as exc:
            raise ReceiptError(f"the checkpoint lacks the witness quorum: {exc}") from None
    try:
        entry = b64decode(receipt["entry"])
        proof = [b64decode(h) for h in receipt["inclusion_proof"]]
    except (ValueError, TypeError):
        raise ReceiptError("entry and inclusion_proof must be standard base64") from None
    try:
        fields = ijson.loads(entry)
        if not isinstance(fields, dict) or canonical(fields) != entry:
            raise ReceiptError("the entry is not RFC 8785 canonical JSON of an object")
    except (ijson.IJSONError, CanonicalJSONError) as exc:
        raise ReceiptError(f"the entry is not canonical JSON: {exc}") from None
    if fields.get("index") != index:
        raise ReceiptError(f"the entry carries index {fields.get('index')!r}, the receipt {index}")
    try:
        verify_inclusion(index, size, hashlib.sha256(b"\x00" + entry).digest(), proof, root)
    except ProofError as exc:
        raise ReceiptError(f"the inclusion proof does not verify: {exc}") from None
    if jws is not None and hashlib.sha256(jws).hexdigest() != fields.get("jws_sha256"):
        raise ReceiptError("the JWS given does not hash to the jws_sha256 the entry records")
    return VerifiedReceipt(origin, size, index, fields)
