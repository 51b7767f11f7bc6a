"""Submissions: the stored bytes, their signature, the key, and the log entry that records the outcome.

The export's submission lines and the log's submission entries are both in log order, so they are
matched as the entries stream by; only what the record versions need later is kept (per accepted
entry: identity, digests and a digest of the signed record).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exchange import envelope, ijson, times
from exchange.auditor.keydir import KeyDirectory
from exchange.auditor.report import Report
from exchange.auditor.source import b64decode
from exchange.errors import ExchangeError
from exchange.transparency.entries import CanonicalJSONError, canonical

#: Rejections whose reason is the key or the signature itself: a signature that does not verify is then
#: the recorded verdict, not a fault of the repository.
_KEY_RULES = frozenset({"key:unknown", "key:not-valid", "signature"})


def content_digest(value: Any) -> bytes:
    """SHA-256 of the RFC 8785 form of a JSON value (key order and number spelling do not matter)."""
    try:
        data = canonical(value)
    except CanonicalJSONError:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).digest()


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


def _same_time(a: Any, b: Any) -> bool:
    try:
        return times.parse(a) == times.parse(b)
    except ValueError:
        return bool(a == b)


class SubmissionCheck:
    """Matches each submission entry of the log with its export line and checks both and the JWS."""

    def __init__(self, keys: KeyDirectory, origin: str | None, report: Report, lines: Iterator[dict[str, Any]]):
        self.keys = keys
        self.origin = origin
        self.report = report
        self._lines = self._ordered(lines)
        self._held: dict[str, Any] | None = None
        self.accepted: dict[int, Accepted] = {}

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
                f"records the {fields['outcome']} submission {fields['participant']}/{fields['submission_id']}, "
                "which is missing from the export",
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

    # ---- one submission ---------------------------------------------------------------------------

    def _check(self, index: int, entry: dict[str, Any], line: dict[str, Any]) -> None:
        where = f"submission {entry['participant']}/{entry['submission_id']} (log index {index})"
        fail = self.report.fail
        outcome = entry["outcome"]
        self.report.count("submissions")
        self.report.count("accepted" if outcome == "accepted" else "rejected")
        for name in ("submission_id", "participant", "kid", "jws_sha256", "payload_sha256"):
            if line.get(name) != entry.get(name):
                fail(where, f"{name} is {line.get(name)!r} in the export but {entry.get(name)!r} in the log entry")
        if not _same_time(line.get("received_at"), entry["received_at"]):
            fail(
                where, f"received_at is {line.get('received_at')!r} in the export, {entry['received_at']!r} in the log"
            )
        if line.get("status") != outcome:
            fail(where, f"the export says {line.get('status')!r} but the log entry records {outcome!r}")
        if outcome == "accepted":
            for name in ("record", "version"):
                if line.get(name) != entry.get(name):
                    fail(where, f"{name} is {line.get(name)!r} in the export but {entry.get(name)!r} in the log entry")
        elif outcome != "rejected":
            fail(where, f"unknown outcome {outcome!r}")
        elif "record" in entry or "version" in entry:
            fail(where, "a rejected submission's entry names a record version")
        try:
            body = b64decode(line.get("jws"))
        except ValueError:
            fail(where, "the export carries no stored JWS (base64)")
            body = None
        tolerant = outcome == "rejected" and any(
            isinstance(e, dict) and e.get("rule") in _KEY_RULES for e in line.get("errors") or []
        )
        payload = self._payload(where, index, entry, line, body, tolerant) if body is not None else None
        if outcome == "accepted" and isinstance(entry.get("record"), str) and isinstance(entry.get("version"), int):
            self.accepted[index] = self._accepted(where, entry, payload)

    def _problem(self, where: str, what: str, tolerant: bool) -> None:
        if tolerant:
            self.report.note(f"{where}: {what} (the recorded reason for its rejection)")
        else:
            self.report.fail(where, what)

    def _payload(
        self, where: str, index: int, entry: dict[str, Any], line: dict[str, Any], body: bytes, tolerant: bool
    ) -> dict[str, Any] | None:
        """The verified signed payload, or None after reporting why it cannot be had."""
        digest = hashlib.sha256(body).hexdigest()
        if digest != entry["jws_sha256"]:
            self.report.fail(
                where,
                f"the stored JWS bytes hash to {digest}, not to the jws_sha256 the log records ({entry['jws_sha256']})",
            )
        serialization = line.get("serialization")
        media_type = envelope.COMPACT_MEDIA_TYPE if serialization == "compact" else envelope.FLATTENED_MEDIA_TYPE
        try:
            jws = envelope.parse(body, media_type)
        except ExchangeError as exc:
            self.report.fail(where, f"the stored JWS is malformed: {exc.detail}")
            return None
        kid = jws.kid
        if kid != entry["kid"]:
            self.report.fail(where, f"the JWS header names key {kid!r}, the log entry {entry['kid']!r}")
        key = self.keys.get(kid)
        if key is None:
            self._problem(where, f"signed with key {kid}, which is not in the key directory", tolerant)
            return None
        if key.participant != entry["participant"]:
            self.report.fail(where, f"signed with key {kid} of {key.participant}, not of {entry['participant']}")
        added = self.keys.added.get(kid)
        if added is None or added > index:
            self.report.fail(where, f"signed with key {kid}, whose addition the log does not record before this entry")
        status: str
        try:
            status = key.status_at(times.parse(entry["received_at"]))
        except ValueError:
            status = "unknown"
        if status != "valid":
            self._problem(where, f"key {kid} was {status.replace('_', ' ')} when the submission was received", tolerant)
        try:
            payload_bytes = jws.verify(key)
        except ExchangeError as exc:
            self._problem(where, exc.detail, tolerant)
            return None
        self.report.count("signatures_verified")
        if hashlib.sha256(payload_bytes).hexdigest() != entry["payload_sha256"]:
            self.report.fail(where, "the signed payload does not hash to the payload_sha256 the log records")
        try:
            payload = ijson.loads(payload_bytes)
        except ijson.IJSONError as exc:
            self._problem(where, f"the signed payload is not I-JSON: {exc}", entry["outcome"] == "rejected")
            return None
        if not isinstance(payload, dict):
            self._problem(where, "the signed payload is not a JSON object", entry["outcome"] == "rejected")
            return None
        if str(payload.get("submission_id", "")).lower() != entry["submission_id"]:
            self.report.fail(where, f"the signed payload is submission {payload.get('submission_id')!r}")
        if payload.get("participant") != entry["participant"]:
            self.report.fail(where, f"the signed payload is by participant {payload.get('participant')!r}")
        if self.origin is not None and payload.get("audience") != self.origin:
            self.report.fail(
                where, f"signed for audience {payload.get('audience')!r}, not this repository ({self.origin})"
            )
        return payload

    def _accepted(self, where: str, entry: dict[str, Any], payload: dict[str, Any] | None) -> Accepted:
        base = Accepted(
            submission=f"{entry['participant']}/{entry['submission_id']}",
            submission_id=entry["submission_id"],
            record=entry["record"],
            version=entry["version"],
            kid=entry["kid"],
            jws_sha256=entry["jws_sha256"],
        )
        if payload is None:
            return base
        signed = f"{payload.get('participant')}/{payload.get('kind')}/{payload.get('record_id')}"
        if signed != entry["record"]:
            self.report.fail(where, f"the signed payload is about {signed}, the log entry accepts {entry['record']}")
        action = payload.get("action")
        record = payload.get("record") if action == "upsert" else None
        return Accepted(
            submission=base.submission,
            submission_id=base.submission_id,
            record=base.record,
            version=base.version,
            kid=base.kid,
            jws_sha256=base.jws_sha256,
            action=action if isinstance(action, str) else None,
            schema=payload.get("schema") if isinstance(payload.get("schema"), str) else None,
            content=content_digest(record),
        )
