"""The log itself: signed checkpoints, the Merkle tree rebuilt from the entries, and the server's proofs.

For each checkpoint, smallest first: its note must verify with one of the log's verifier keys, its
sizes must grow, the root listed beside it must be the root it signs, the root recomputed from the
entries must equal it, and the server's consistency proof from the previous checkpoint must verify
(with :mod:`exchange.transparency.verify`, code written apart from the log's own). The root the server
computes now for the newest size, and its inclusion proof of the last entry, must agree too: that is
where a corrupted stored subtree hash shows.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from exchange import ijson
from exchange.auditor.report import Report
from exchange.auditor.source import b64decode
from exchange.transparency.entries import CanonicalJSONError, canonical
from exchange.transparency.merkle import MemoryNodeStore
from exchange.transparency.note import NoteError, parse_checkpoint, verify_note
from exchange.transparency.verify import ProofError, verify_consistency, verify_inclusion

_SUBMISSION_FIELDS = ("submission_id", "participant", "kid", "jws_sha256", "payload_sha256", "received_at", "outcome")
_KEY_FIELDS = ("action", "kid", "participant", "jwk_thumbprint", "at")
_REVIEW_FIELDS = (
    *_SUBMISSION_FIELDS[:-1],
    "action",
    "reviewed_participant",
    "reviewed_submission_id",
    "reviewed_jws_sha256",
)
_ENDORSEMENT_FIELDS = (*_SUBMISSION_FIELDS[:-1], "record", "endorsed_jws_sha256")
_FIELDS = {
    "submission": _SUBMISSION_FIELDS,
    "key": _KEY_FIELDS,
    "review": _REVIEW_FIELDS,
    "endorsement": _ENDORSEMENT_FIELDS,
}
_BATCH = 1024


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    size: int
    root: bytes


def open_note(note: str, verifier_keys: list[str]) -> str:
    """The text of a note signed by any of ``verifier_keys``; NoteError naming the last failure otherwise."""
    error = NoteError("no log verifier key is published")
    for key in verifier_keys:
        try:
            return verify_note(note, key)
        except NoteError as exc:
            error = exc
    raise error


def parse_entry(index: int, entry: bytes, report: Report) -> dict[str, Any] | None:
    """A log entry's fields, after checking it is canonical JSON of a known shape at ``index``."""
    where = f"log entry {index}"
    try:
        fields = ijson.loads(entry)
    except ijson.IJSONError as exc:
        report.fail(where, f"not I-JSON: {exc}")
        return None
    if not isinstance(fields, dict):
        report.fail(where, "not a JSON object")
        return None
    try:
        if canonical(fields) != entry:
            report.fail(where, "not RFC 8785 canonical JSON (its bytes differ from their canonical form)")
    except CanonicalJSONError as exc:
        report.fail(where, f"has no canonical JSON form: {exc}")
    if fields.get("index") != index:
        report.fail(where, f"carries index {fields.get('index')!r}, not its position {index}")
    if fields.get("v") != 1:
        report.fail(where, f"unknown entry version {fields.get('v')!r}")
    kind = fields.get("type")
    required = _FIELDS.get(kind) if isinstance(kind, str) else None
    if required is None:
        report.fail(where, f"unknown entry type {kind!r}")
        return None
    missing = [name for name in required if not isinstance(fields.get(name), str)]
    if missing:
        report.fail(where, f"lacks {', '.join(missing)}")
        return None
    return fields


class LogCheck:
    """Walks checkpoints, proofs and entries together; yields each covered entry's fields in order."""

    def __init__(self, verifier_keys: list[str], log_origin: str | None, report: Report) -> None:
        self.verifier_keys = verifier_keys
        self.log_origin = log_origin
        self.report = report
        self.tree = MemoryNodeStore()
        self.last: SignedCheckpoint | None = None
        self.listed: object = None  # the size of the checkpoint listed just before, good or not
        self.matched = 0  # the largest size whose recomputed root matched its signed root
        self.signed_size = 0
        self.complete = True  # False when the entries stop before a checkpoint's size

    def checkpoint(self, line: dict[str, Any]) -> SignedCheckpoint | None:
        """Check one listed checkpoint on its own (signature, origin, listed root, growth)."""
        size, note = line.get("size"), line.get("note")
        where = f"checkpoint {size}"
        if not isinstance(note, str):
            self.report.fail(where, "has no signed note")
            return None
        try:
            text = open_note(note, self.verifier_keys)
        except NoteError as exc:
            # Nothing in an unsigned note is evidence: the checks go on from the last good checkpoint.
            self.report.fail(where, f"its signature does not verify with the log's verifier key: {exc}")
            return None
        try:
            origin, signed_size, root = parse_checkpoint(text)
        except NoteError as exc:
            self.report.fail(where, f"malformed checkpoint: {exc}")
            return None
        if self.log_origin is not None and origin != self.log_origin:
            self.report.fail(where, f"signed for origin {origin!r}, not {self.log_origin!r}")
        if signed_size != size:
            self.report.fail(where, f"listed as size {size} but its note signs size {signed_size}")
        try:
            listed = b64decode(line.get("root"))
        except ValueError:
            listed = b""
        if listed != root:
            self.report.fail(where, "the root listed beside it differs from the root its note signs")
        if self.last is not None and signed_size <= self.last.size:
            self.report.fail(where, f"sizes do not grow: size {signed_size} comes after size {self.last.size}")
            return None
        self.report.count("checkpoints")
        return SignedCheckpoint(signed_size, root)

    def run(
        self,
        checkpoints: Iterator[dict[str, Any]],
        proofs: Iterator[dict[str, Any]],
        entries: Iterator[tuple[int, bytes]],
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(index, fields)`` for every well-formed entry under the newest signed checkpoint."""
        pending = _Proofs(proofs)
        for line in checkpoints:
            checkpoint = self.checkpoint(line)
            adjacent = self.last is None or self.listed == self.last.size
            self.listed = line.get("size")
            if checkpoint is None:
                continue
            self.complete = yield from self._entries_up_to(checkpoint.size, entries)
            if not self.complete:
                return  # the entries stop short: what follows would only repeat the finding
            self._compare(checkpoint, pending, adjacent)
        extra = sum(1 for _ in entries)
        if extra and self.last is None:
            self.report.fail("log", f"{extra} log entries but no signed checkpoint covers them")
        elif extra:
            self.report.note(f"{extra} log entries beyond the newest signed checkpoint were not checked")
        self._newest(pending)

    def _entries_up_to(
        self, size: int, entries: Iterator[tuple[int, bytes]]
    ) -> Generator[tuple[int, dict[str, Any]], None, bool]:
        """Append entries until the tree has ``size`` leaves; return False when they run out or skip."""
        batch: list[bytes] = []
        try:
            while self.tree.size + len(batch) < size:
                expected = self.tree.size + len(batch)
                item = next(entries, None)
                if item is None:
                    self.report.fail(
                        f"checkpoint {size}", f"the log entries stop at index {expected}; the checkpoint signs {size}"
                    )
                    return False
                index, entry = item
                if index != expected:
                    self.report.fail(f"log entry {expected}", f"missing (the next entry listed is {index})")
                    return False
                batch.append(entry)
                self.report.count("entries")
                fields = parse_entry(index, entry, self.report)
                if fields is not None:
                    yield index, fields
                if len(batch) >= _BATCH:
                    self.tree.append(batch)
                    batch = []
            return True
        finally:
            self.tree.append(batch)

    def _compare(self, checkpoint: SignedCheckpoint, proofs: _Proofs, adjacent: bool) -> None:
        """Compare the recomputed root and check the server's proof from the previous good checkpoint."""
        where = f"checkpoint {checkpoint.size}"
        if self.tree.root(checkpoint.size) != checkpoint.root:
            self.report.fail(
                where,
                f"the root recomputed from log entries 0..{checkpoint.size - 1} differs from the signed root "
                f"(one of entries {self.matched}..{checkpoint.size - 1} is not what was signed)",
            )
        else:
            self.matched = checkpoint.size
        self.report.count("roots_recomputed")
        if self.last is not None and self.last.size > 0:  # nothing is proved from the empty tree
            proof = proofs.consistency(self.last.size, checkpoint.size)
            if proof is None and not adjacent:
                self.report.note(f"{where}: no server proof from size {self.last.size} (a checkpoint between failed)")
            elif proof is None:
                self.report.fail(where, f"no consistency proof from size {self.last.size} was supplied")
            elif isinstance(proof, str):
                self.report.fail(where, f"the server gave no consistency proof from size {self.last.size}: {proof}")
            else:
                try:
                    verify_consistency(self.last.size, checkpoint.size, self.last.root, checkpoint.root, proof)
                    self.report.count("consistency_proofs")
                except ProofError as exc:
                    self.report.fail(
                        where, f"the server's consistency proof from size {self.last.size} does not verify: {exc}"
                    )
        self.last = checkpoint
        self.signed_size = self.report.counts["signed_size"] = checkpoint.size

    def _newest(self, proofs: _Proofs) -> None:
        """The server's current root and inclusion proof for the newest signed size."""
        if self.last is None or self.last.size == 0:
            return
        size = self.last.size
        if self.listed != size:
            self.report.note("the server's current root was not compared: the newest listed checkpoint failed")
            return
        where = f"checkpoint {size}"
        served = proofs.inclusion(size - 1, size)
        if served is None or isinstance(served, str):
            self.report.fail(
                where, f"the server gave no inclusion proof of its last entry: {served or 'none supplied'}"
            )
            return
        root, proof = served
        if root != self.last.root:
            self.report.fail(where, "the root the server computes now for this size differs from the signed root")
        leaf = self.tree.get([(0, size - 1)])[(0, size - 1)]
        try:
            verify_inclusion(size - 1, size, leaf, proof, self.last.root)
        except ProofError as exc:
            self.report.fail(where, f"the server's inclusion proof of entry {size - 1} does not verify: {exc}")


def _hashes(value: Any) -> list[bytes]:
    """Proof hashes in standard base64; an undecodable element becomes an empty hash, which fails."""
    if not isinstance(value, list):
        return [b""]
    out: list[bytes] = []
    for item in value:
        try:
            out.append(b64decode(item))
        except ValueError:
            out.append(b"")
    return out


class _Proofs:
    """The proofs file, read in step with the checkpoints (consistency lines in order, inclusion last)."""

    def __init__(self, lines: Iterator[dict[str, Any]]) -> None:
        self._lines = lines
        self._held: dict[str, Any] | None = None
        self._inclusion: dict[str, Any] | None = None

    def _next(self) -> dict[str, Any] | None:
        if self._held is not None:
            line, self._held = self._held, None
            return line
        for line in self._lines:
            if line.get("type") == "inclusion":
                self._inclusion = line
                continue
            return line
        return None

    def consistency(self, old: int, new: int) -> list[bytes] | str | None:
        """The proof from ``old`` to ``new``, the server's refusal (text), or None when not supplied."""
        while (line := self._next()) is not None:
            if line.get("old") == old and line.get("new") == new:
                return str(line["error"]) if "error" in line else _hashes(line.get("proof"))
            if isinstance(line.get("new"), int) and line["new"] > new:
                self._held = line
                return None
        return None

    def inclusion(self, index: int, size: int) -> tuple[bytes, list[bytes]] | str | None:
        while self._next() is not None:
            pass
        line = self._inclusion
        if line is None or line.get("index") != index or line.get("size") != size:
            return None
        if "error" in line:
            return str(line["error"])
        try:
            root = b64decode(line.get("root"))
        except ValueError:
            root = b""
        return root, _hashes(line.get("proof"))
