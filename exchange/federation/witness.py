"""The witness: C2SP ``tlog-witness`` ``add-checkpoint``, checked and recorded atomically.

A node configured with other logs' verifier keys (``EXCHANGE_WITNESS_LOGS``) cosigns their
checkpoints: it checks that each new checkpoint is signed by the log, and consistent with the latest
one it cosigned for that origin, records it, and answers with its ``cosignature/v1`` line. Each
refusal carries the status the specification fixes:

* 400: the body is malformed, or its old size is larger than the checkpoint's size;
* 404: the checkpoint's origin is not a log this node witnesses;
* 403: no signature by a trusted key of that log verifies;
* 409 with the size: the old size is not the size this node last cosigned (the body tells it);
* 422: the consistency proof does not verify;
* 409: the same size with another root (a split view).

The check and the update are one compare-and-set in the store: a request that checked against a state
another request has since replaced gets the 409 with the new size, so none can roll the state back.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from exchange.federation.store import FederationStore, WitnessedCheckpoint
from exchange.transparency.cosignature import WitnessSigner
from exchange.transparency.note import NoteError, parse_checkpoint, parse_verifier_key, split_note, verify_note
from exchange.transparency.verify import ProofError, verify_consistency

log = logging.getLogger("exchange.witness")

MAX_BODY_BYTES = 64 * 1024
"""Largest ``add-checkpoint`` body: 63 proof lines and a checkpoint with many signatures fit well within."""
SIZE_MEDIA_TYPE = "text/x.tlog.size"
"""Media type of the 409 answer that carries the size the witness last cosigned."""
MAX_PROOF_LINES = 63
"""Most consistency-proof lines a client may send (fixed by the specification)."""

MAX_TREE_SIZE = (1 << 63) - 1
"""Largest tree size accepted (what a signed 64-bit integer holds, in SQLite and PostgreSQL alike)."""

_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


class WitnessRefusal(Exception):
    """An ``add-checkpoint`` request the witness refuses; ``status`` is the HTTP status the protocol fixes.

    ``size`` is set on the 409 that tells the client the size last cosigned.
    """

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """A parsed ``add-checkpoint`` body (nothing in it is verified yet)."""

    old: int
    proof: list[bytes]
    note: str


def _bad(message: str) -> WitnessRefusal:
    return WitnessRefusal(400, message)


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Read the body: ``old <size>``, up to 63 base64 proof lines, an empty line, the signed checkpoint."""
    if len(body) > MAX_BODY_BYTES:
        raise _bad(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("the body is not UTF-8 text") from None
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise _bad("the body needs an empty line between the old size and proof lines and the checkpoint")
    lines = head.split("\n")
    match = _OLD.fullmatch(lines[0])
    if match is None:
        raise _bad("the first line must be 'old <size>' (decimal, no leading zeros)")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise _bad(f"the consistency proof has more than {MAX_PROOF_LINES} lines")
    proof: list[bytes] = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            value = base64.b64decode(line.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise _bad(f"line {number} is not a base64 hash") from None
        if len(value) != 32 or base64.b64encode(value).decode("ascii") != line:
            raise _bad(f"line {number} is not the standard base64 of a 32-byte hash")
        proof.append(value)
    if not note:
        raise _bad("the body has no checkpoint after the empty line")
    return AddCheckpoint(int(match.group(1)), proof, note)


class Witness:
    """Cosigns the checkpoints of the logs it knows, keeping its latest view of each in the store."""

    def __init__(self, signer: WitnessSigner, log_keys: Iterable[str], store: FederationStore) -> None:
        self.signer = signer
        self.store = store
        self.logs: dict[str, list[str]] = {}
        for vkey in log_keys:
            self.logs.setdefault(parse_verifier_key(vkey).name, []).append(vkey)

    @property
    def origins(self) -> list[str]:
        return sorted(self.logs)

    async def add_checkpoint(self, body: bytes) -> str:
        """Check and record the checkpoint in ``body``; return the cosignature line(s) to answer with."""
        request = parse_add_checkpoint(body)
        try:
            text, _ = split_note(request.note)
            origin, size, root = parse_checkpoint(text)
        except NoteError as exc:
            raise _bad(f"malformed checkpoint: {exc}") from None
        if size > MAX_TREE_SIZE:
            raise _bad(f"the checkpoint's tree size is above {MAX_TREE_SIZE}")
        keys = self.logs.get(origin)
        if keys is None:
            raise WitnessRefusal(404, f"this node does not witness the log {origin!r}")
        if not _signed_by_any(request.note, keys):
            raise WitnessRefusal(403, f"no signature by a trusted key of {origin} verifies")
        if request.old > size:
            raise _bad(f"old size {request.old} is larger than the checkpoint's size {size}")
        new = WitnessedCheckpoint(size, root)
        current = await self.store.witnessed(origin)
        self._check(origin, request, current, new)
        lost_to = await self.store.advance(origin, current, new, request.note)
        if lost_to is not None:
            raise WitnessRefusal(409, f"the latest cosigned size of {origin} is {lost_to.size}", size=lost_to.size)
        return self.signer.cosign(text)

    def _check(
        self, origin: str, request: AddCheckpoint, current: WitnessedCheckpoint | None, new: WitnessedCheckpoint
    ) -> None:
        latest = 0 if current is None else current.size
        if request.old != latest:
            raise WitnessRefusal(409, f"the latest cosigned size of {origin} is {latest}", size=latest)
        if request.old == 0:
            if request.proof:
                raise _bad("the consistency proof must be empty when the old size is 0")
            if current is not None and current.root != new.root and new.size == 0:
                raise WitnessRefusal(409, f"another root for size 0 of {origin}")
            return
        assert current is not None  # latest > 0
        if new.size == current.size and new.root != current.root:
            log.warning("split view", extra={"origin": origin, "size": new.size})
            raise WitnessRefusal(409, f"{origin} already has another root at size {new.size} (a split view)")
        try:
            verify_consistency(current.size, new.size, current.root, new.root, request.proof)
        except ProofError as exc:
            log.warning("inconsistent checkpoint", extra={"origin": origin, "old": current.size, "size": new.size})
            raise WitnessRefusal(422, f"the consistency proof from {current.size} to {new.size} fails: {exc}") from None


def _signed_by_any(note: str, keys: Iterable[str]) -> bool:
    for key in keys:
        try:
            verify_note(note, key)
        except NoteError:
            continue
        return True
    return False
