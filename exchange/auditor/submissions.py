"""Submissions: the stored bytes, their signature, the key, and the log entry that records the outcome.

The export's submission lines and the log's submission entries are both in log order, so they are
matched as the entries stream by; only what the record versions need later is kept (per accepted
entry: identity, digests and a digest of the signed record).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exchange import times
from exchange.auditor.keydir import KeyDirectory
from exchange.auditor.parallel import Precheck, Prechecked, Signed, inputs, serialization_of, signed
from exchange.auditor.report import Report
from exchange.auditor.source import b64decode
from exchange.content import value_digest
from exchange.verification import (
    ENVELOPE_RULES,
    KEY_RULES,
    Expected,
    VerificationError,
    verify_submission,
)

#: Faults of the signed fields that a rejection may record (any other fault of a stored submission is one).
_FIELD_RULES = frozenset({"schema:format", "schema:enum"})


def content_digest(value: Any) -> bytes:
    """SHA-256 of a JSON value as RFC 8785's canonical form judges equality (member order and number
    spelling do not matter), at a fraction of the cost of writing that form (:mod:`exchange.content`)."""
    return value_digest(value)


@dataclass(frozen=True, slots=True)
class Accepted:
    """What a record version must agree with: the accepted log entry and its verified signed payload."""

    submission: str
    submission_id: str
    record: str
    version: int
    kid: str
    jws_sha256: str
    action: str | None = None
    schema: str | None = None
    content: bytes | None = None  # digest of the signed record; None when the payload did not verify
    compared: str | None = None  # :func:`exchange.content.content_sha256` of its schema and record
    visibility: str = "public"  # as signed
    readers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Pending:
    """A submission logged ``pending_review``: its entry, its export line and its verified payload."""

    index: int
    entry: dict[str, Any]
    line: dict[str, Any]
    verified: Signed | None


def _same_time(a: Any, b: Any) -> bool:
    try:
        return times.parse(a) == times.parse(b)
    except ValueError:
        return bool(a == b)


class SubmissionCheck:
    """Matches each submission entry of the log with its export line and checks both and the JWS."""

    def __init__(
        self,
        keys: KeyDirectory,
        origin: str | None,
        report: Report,
        lines: Iterator[dict[str, Any]],
        precheck: Precheck | None = None,
    ):
        self.keys = keys
        self.origin = origin
        self.report = report
        self.precheck = precheck
        self._lines = self._ordered(lines)
        self._held: dict[str, Any] | None = None
        self.accepted: dict[int, Accepted] = {}
        #: submissions logged pending_review and not yet decided by a review entry
        self.pending: dict[tuple[str, str], Pending] = {}
        #: endorsements the log records: log index → (record, version, the JWS hash of that version)
        self.endorsements: dict[int, tuple[str, int, str]] = {}

    def _ordered(self, lines: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        last = -1
        for line in lines:
            index = line.get("log_index")
            where = f"submission {line.get('participant')}/{line.get('submission_id')}"
            if not isinstance(index, int) or isinstance(index, bool):
                self.report.fail(where, "the export gives it no log index")
            elif index <= last:
                self.report.fail(f"{where} (log index {index})", f"out of log order in the export (after {last})")
            else:
                last = index
                yield line

    def _peek(self) -> dict[str, Any] | None:
        if self._held is None:
            self._held = next(self._lines, None)
        return self._held

    def _unmatched(self, line: dict[str, Any], why: str) -> None:
        where = f"submission {line.get('participant')}/{line.get('submission_id')} (log index {line['log_index']})"
        self.report.fail(where, why)

    def on_entry(self, index: int, fields: dict[str, Any]) -> None:
        """Check one well-formed log entry (entries arrive in index order)."""
        if fields["type"] == "key":
            self.keys.on_event(index, fields, self.report)
            return
        while (line := self._peek()) is not None and line["log_index"] < index:
            self._held = None
            self._unmatched(line, f"log entry {line['log_index']} is not a submission entry")
        line = self._peek()
        if line is None or line["log_index"] != index:
            self.report.fail(
                f"log entry {index}",
                f"records the {fields.get('outcome', 'review')} submission "
                f"{fields['participant']}/{fields['submission_id']}, which is missing from the export",
            )
            return
        self._held = None
        self._check(index, fields, line)

    def finish(self, signed_size: int) -> None:
        """Export lines the log did not match: beyond the signed log they wait for the next audit."""
        later = 0
        while (line := self._peek()) is not None:
            self._held = None
            if line["log_index"] >= signed_size:
                later += 1
            else:
                self._unmatched(line, f"log entry {line['log_index']} is not a submission entry")
        if later:
            self.report.note(f"{later} submission(s) decided after the newest signed checkpoint were not checked")
        for (participant, submission_id), pending in sorted(self.pending.items()):
            status, review = pending.line.get("status"), pending.line.get("review") or {}
            decided = review.get("log_index")
            later = isinstance(decided, int) and decided >= signed_size  # decided after the newest checkpoint
            if status != "pending_review" and not later:
                self.report.fail(
                    f"submission {participant}/{submission_id} (log index {pending.index})",
                    f"the export says {status!r} after a review at log index {review.get('log_index')}, "
                    "but no review entry of the log decides it",
                )

    # ---- one submission ---------------------------------------------------------------------------

    def _check(self, index: int, entry: dict[str, Any], line: dict[str, Any]) -> None:
        where = f"submission {entry['participant']}/{entry['submission_id']} (log index {index})"
        fail = self.report.fail
        review = entry["type"] == "review"
        outcome = "accepted" if entry["type"] in ("review", "endorsement") else entry["outcome"]
        self.report.count("submissions")
        self.report.count("reviews" if review else "rejected" if outcome == "rejected" else str(outcome))
        for name in ("submission_id", "participant", "kid", "jws_sha256", "payload_sha256"):
            if line.get(name) != entry.get(name):
                fail(where, f"{name} is {line.get(name)!r} in the export but {entry.get(name)!r} in the log entry")
        if not _same_time(line.get("received_at"), entry["received_at"]):
            fail(
                where, f"received_at is {line.get('received_at')!r} in the export, {entry['received_at']!r} in the log"
            )
        if outcome == "pending_review":
            # decided later (approved or returned) by a review entry, which checks the status then
            if line.get("status") not in ("pending_review", "accepted", "returned"):
                fail(where, f"the export says {line.get('status')!r} but the log entry records {outcome!r}")
        elif line.get("status") != outcome:
            fail(where, f"the export says {line.get('status')!r} but the log entry records {outcome!r}")
        if outcome == "accepted":
            for name in ("record", "version"):
                if line.get(name) != entry.get(name):
                    fail(where, f"{name} is {line.get(name)!r} in the export but {entry.get(name)!r} in the log entry")
        elif outcome not in ("rejected", "pending_review"):
            fail(where, f"unknown outcome {outcome!r}")
        elif "record" in entry or "version" in entry:
            fail(where, f"a {outcome} submission's entry names a record version")
        # Rejected for its key or signature: a signature that does not verify is then the recorded verdict,
        # not a fault of the repository.
        tolerant = outcome == "rejected" and any(
            isinstance(e, dict) and e.get("rule") in KEY_RULES for e in line.get("errors") or []
        )
        verified: Signed | None
        done = self._prechecked(index, entry, line)
        if done is not None:
            verified = self._agrees(where, index, entry, done.jws_sha256, done.signed)
        else:
            try:
                body = b64decode(line.get("jws"))
            except ValueError:
                fail(where, "the export carries no stored JWS (base64)")
                body = None
            verified = self._payload(where, index, entry, line, body, tolerant) if body is not None else None
        if review:
            self._review(where, index, entry, verified)
        elif entry["type"] == "endorsement":
            self._endorsement(where, index, entry, verified)
        elif outcome == "pending_review":
            self.pending[(entry["participant"], entry["submission_id"])] = Pending(index, entry, line, verified)
        elif outcome == "accepted" and isinstance(entry.get("record"), str) and isinstance(entry.get("version"), int):
            self.accepted[index] = self._accepted(where, entry, verified)

    def _endorsement(self, where: str, index: int, entry: dict[str, Any], verified: Signed | None) -> None:
        """A participant's endorsement: signed by the record's owner, for exactly the version it names."""
        record, version, endorsed = entry["record"], entry.get("version"), entry["endorsed_jws_sha256"]
        if record.partition("/")[0] != entry["participant"]:
            self.report.fail(where, f"{entry['participant']} endorses {record}, which is not its record")
        if verified is not None:
            signed = verified.endorse or {}
            if verified.action != "endorse" or verified.record_key != record:
                self.report.fail(where, f"the signed payload is not an endorsement of {record}")
            if (signed.get("version"), signed.get("jws_sha256")) != (version, endorsed):
                self.report.fail(where, "the signed endorsement names another version than the log entry")
        if isinstance(version, int) and not isinstance(version, bool):
            self.endorsements[index] = (record, version, endorsed)

    def _review(self, where: str, index: int, entry: dict[str, Any], verified: Signed | None) -> None:
        """An editor's decision: it must sign what the entry records, and decide a submission pending then."""
        fail = self.report.fail
        action, named = entry["action"], (entry["reviewed_participant"], entry["reviewed_submission_id"])
        if verified is not None:
            signed = verified.review or {}
            if verified.action != action:
                fail(where, f"the editor signed {verified.action!r}, the log entry records {action!r}")
            if (signed.get("participant"), signed.get("submission_id"), signed.get("jws_sha256")) != (
                *named,
                entry["reviewed_jws_sha256"],
            ):
                fail(where, "the editor signed a decision on another submission than the log entry names")
        pending = self.pending.pop(named, None)
        if pending is None:
            fail(where, f"decides submission {'/'.join(named)}, which is not pending review at that point of the log")
            return
        if pending.entry["jws_sha256"] != entry["reviewed_jws_sha256"]:
            fail(where, f"names other bytes of submission {'/'.join(named)} than the log recorded as pending")
        status = "accepted" if action == "approve" else "returned"
        decided = pending.line.get("review") or {}
        if pending.line.get("status") != status or decided.get("log_index") != index:
            fail(
                f"submission {'/'.join(named)} (log index {pending.index})",
                f"the export says {pending.line.get('status')!r} decided at log index {decided.get('log_index')!r}, "
                f"but the log's review entry {index} {action}s it",
            )
        if action == "approve":
            if not (isinstance(entry.get("record"), str) and isinstance(entry.get("version"), int)):
                fail(where, "an approval's entry names no record version")
                return
            approved = {**pending.entry, "record": entry["record"], "version": entry["version"]}
            self.accepted[index] = self._accepted(where, approved, pending.verified)

    def _prechecked(self, index: int, entry: dict[str, Any], line: dict[str, Any]) -> Prechecked | None:
        """A worker's result for this line, when it checked exactly what the log entry names."""
        if self.precheck is None:
            return None
        given = inputs(line, entry["kid"], entry["participant"], entry["submission_id"], entry["received_at"])
        return self.precheck.take(index, given)

    def _problem(self, where: str, what: str, tolerant: bool) -> None:
        if tolerant:
            self.report.note(f"{where}: {what} (the recorded reason for its rejection)")
        else:
            self.report.fail(where, what)

    def _payload(
        self, where: str, index: int, entry: dict[str, Any], line: dict[str, Any], body: bytes, tolerant: bool
    ) -> Signed | None:
        """The verified submission, or None after reporting why it cannot be had."""
        digest = hashlib.sha256(body).hexdigest()
        if digest != entry["jws_sha256"]:
            self.report.fail(
                where,
                f"the stored JWS bytes hash to {digest}, not to the jws_sha256 the log records ({entry['jws_sha256']})",
            )
        try:
            received_at = times.parse(entry["received_at"])
        except ValueError:
            self.report.fail(where, f"received_at {entry['received_at']!r} is not an RFC 3339 time")
            return None
        expected = Expected(
            kid=entry["kid"],
            participant=entry["participant"],
            submission_id=entry["submission_id"],
            audience=self.origin,
        )
        try:
            verified = verify_submission(
                body, serialization_of(line), self.keys.get, received_at=received_at, expected=expected
            )
        except VerificationError as exc:
            self._unverified(where, exc, entry["outcome"] == "rejected", tolerant)
            return None
        return self._verified(where, index, entry, signed(verified))

    def _agrees(self, where: str, index: int, entry: dict[str, Any], digest: str, verified: Signed) -> Signed:
        """A worker verified the stored JWS for exactly this entry's inputs: the checks that follow it."""
        if digest != entry["jws_sha256"]:
            self.report.fail(
                where,
                f"the stored JWS bytes hash to {digest}, not to the jws_sha256 the log records ({entry['jws_sha256']})",
            )
        return self._verified(where, index, entry, verified)

    def _verified(self, where: str, index: int, entry: dict[str, Any], verified: Signed) -> Signed:
        self.report.count("signatures_verified")
        added = self.keys.added.get(verified.kid)
        if added is None or added > index:
            self.report.fail(
                where, f"signed with key {verified.kid}, whose addition the log does not record before this entry"
            )
        if verified.payload_sha256 != entry["payload_sha256"]:
            self.report.fail(where, "the signed payload does not hash to the payload_sha256 the log records")
        return verified

    def _unverified(self, where: str, exc: VerificationError, rejected: bool, tolerant: bool) -> None:
        """Report a stored submission that does not verify: a fault, unless it is why it was rejected."""
        if exc.rule in ENVELOPE_RULES:
            self.report.fail(where, f"the stored JWS is malformed: {exc.message}")
        elif exc.rule == "key:unknown":
            self._problem(where, f"signed with key {exc.kid}, which is not in the key directory", tolerant)
        elif exc.rule in KEY_RULES:
            self._problem(where, exc.message, tolerant)
        elif exc.rule == "i-json":
            self._problem(where, f"the signed payload is not I-JSON: {exc.message}", rejected)
        elif exc.rule == "schema:type":
            self._problem(where, "the signed payload is not a JSON object", rejected)
        else:
            for issue in exc.issues:
                self._problem(where, issue.message, rejected and issue.rule in _FIELD_RULES)

    def _accepted(self, where: str, entry: dict[str, Any], verified: Signed | None) -> Accepted:
        base = Accepted(
            submission=f"{entry['participant']}/{entry['submission_id']}",
            submission_id=entry["submission_id"],
            record=entry["record"],
            version=entry["version"],
            kid=entry["kid"],
            jws_sha256=entry["jws_sha256"],
        )
        if verified is None:
            return base
        signed = verified.record_key
        if signed != entry["record"]:
            self.report.fail(where, f"the signed payload is about {signed}, the log entry accepts {entry['record']}")
        return Accepted(
            submission=base.submission,
            submission_id=base.submission_id,
            record=base.record,
            version=base.version,
            kid=base.kid,
            jws_sha256=base.jws_sha256,
            action=verified.action,
            schema=verified.schema,
            content=verified.content,
            compared=verified.compared,
            visibility=verified.visibility,
            readers=verified.readers,
        )
