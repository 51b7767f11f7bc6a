"""The follower's checks of one change: its shape, its signed JWS, its log entry and its checkpoint.

Everything here is pure (no I/O): the follower fetches, these functions judge. A failed check raises
:class:`Inconsistency` naming what failed; the follower adds the seq and record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exchange import envelope, ijson, times
from exchange.errors import ExchangeError
from exchange.keys import PublicKey, from_directory_entry
from exchange.transparency.merkle import leaf_hash
from exchange.transparency.note import NoteError, parse_checkpoint, verify_note

__all__ = [
    "ACTIONS",
    "Inconsistency",
    "KeyDirectory",
    "Signed",
    "TrustedCheckpoint",
    "b64decode",
    "check_change",
    "open_checkpoint",
    "same_json",
    "signing_keys",
    "verify_entry",
    "verify_jws",
]

ACTIONS = ("upsert", "withdraw")
_FIELDS: tuple[tuple[str, type], ...] = (
    ("seq", int),
    ("action", str),
    ("record", str),
    ("version", int),
    ("log_index", int),
    ("submission_id", str),
    ("kid", str),
    ("received_at", str),
)


class Inconsistency(Exception):
    """The repository served something that does not verify; ``seq`` and ``record`` say where."""

    def __init__(self, what: str, *, seq: int | None = None, record: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.seq = seq
        self.record = record

    def at(self, seq: int | None, record: str | None) -> Inconsistency:
        """This inconsistency, placed at a change (unless it already names one)."""
        if self.seq is None and self.record is None:
            self.seq, self.record = seq, record
        return self

    def __str__(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.record:
            where.append(f"record {self.record}")
        return f"{', '.join(where)}: {self.what}" if where else self.what


def b64decode(text: Any, what: str) -> bytes:
    """Standard base64 (as the log serves entries and hashes)."""
    if not isinstance(text, str):
        raise Inconsistency(f"{what} is not base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Inconsistency(f"{what} is not standard base64") from None


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, but ``true`` is never ``1`` and ``1`` is never ``"1"``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


# ---- the change itself ----------------------------------------------------------------------------


def check_change(change: Any) -> None:
    """The change has every field with its type, and carries its content and JWS."""
    if not isinstance(change, dict):
        raise Inconsistency("a change is not a JSON object")
    for name, kind in _FIELDS:
        value = change.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise Inconsistency(f"the change's {name} is missing or not a {kind.__name__}")
    if change["action"] not in ACTIONS:
        raise Inconsistency(f"unknown action {change['action']!r}")
    if "content" not in change:
        raise Inconsistency("the change carries no content (the feed ignored include=record)")
    if not isinstance(change.get("jws"), str) or not change["jws"]:
        raise Inconsistency("the change carries no JWS (the feed ignored include=jws)")
    try:
        times.parse(change["received_at"])
    except ValueError:
        raise Inconsistency(f"received_at {change['received_at']!r} is not an RFC 3339 time") from None


# ---- keys ------------------------------------------------------------------------------------------


@dataclass
class KeyDirectory:
    """The repository's key directory (``GET /v1/keys``) as last fetched."""

    keys: dict[str, PublicKey] = field(default_factory=dict)
    fetched_at: datetime | None = None
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def from_jwks(cls, document: Any, fetched_at: datetime) -> KeyDirectory:
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise Inconsistency("the key directory is not a JWKS (no keys list)")
        directory = cls(fetched_at=fetched_at)
        for entry in entries:
            try:
                key = from_directory_entry(entry)
            except ValueError as exc:
                directory.skipped.append(str(exc))
                continue
            directory.keys[key.kid] = key
        return directory

    def get(self, kid: str) -> PublicKey | None:
        return self.keys.get(kid)

    def covers(self, received_at: str, margin_seconds: float) -> bool:
        """True when this copy was fetched after ``received_at`` (so it shows any earlier revocation)."""
        if self.fetched_at is None:
            return False
        return (self.fetched_at - times.parse(received_at)).total_seconds() > margin_seconds


# ---- the signed submission ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signed:
    """What the verified JWS of a change proves: its exact bytes' hash and its signed payload."""

    jws_sha256: str
    payload_sha256: str
    payload: dict[str, Any]


def _media_type(body: bytes) -> str:
    return envelope.FLATTENED_MEDIA_TYPE if body.lstrip().startswith(b"{") else envelope.COMPACT_MEDIA_TYPE


def verify_jws(change: dict[str, Any], key: PublicKey | None, origin: str | None) -> Signed:
    """The change's JWS parses, verifies with ``key`` (valid when received) and signs exactly this change."""
    body = str(change["jws"]).encode("utf-8")
    try:
        jws = envelope.parse(body, _media_type(body))
    except ExchangeError as exc:
        raise Inconsistency(f"the JWS is malformed: {exc.detail}") from None
    if jws.kid != change["kid"]:
        raise Inconsistency(f"the JWS header names key {jws.kid!r}, the change {change['kid']!r}")
    if key is None:
        raise Inconsistency(f"signed with key {jws.kid}, which is not in the key directory (GET /v1/keys)")
    participant, kind, record_id = _record_parts(change["record"])
    if key.participant != participant:
        raise Inconsistency(f"signed with key {key.kid} of {key.participant}, not of {participant}")
    status = key.status_at(times.parse(change["received_at"]))
    if status != "valid":
        raise Inconsistency(
            f"key {key.kid} was {status.replace('_', ' ')} when the submission was received ({change['received_at']})"
        )
    try:
        payload_bytes = jws.verify(key)
    except ExchangeError as exc:
        raise Inconsistency(f"the JWS signature does not verify: {exc.detail}") from None
    try:
        payload = ijson.loads(payload_bytes)
    except ijson.IJSONError as exc:
        raise Inconsistency(f"the signed payload is not I-JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise Inconsistency("the signed payload is not a JSON object")
    expected = {
        "participant": participant,
        "kind": kind,
        "record_id": record_id,
        "action": change["action"],
    }
    for name, value in expected.items():
        if payload.get(name) != value:
            raise Inconsistency(f"the signed payload has {name} {payload.get(name)!r}, the change {value!r}")
    if str(payload.get("submission_id", "")).lower() != change["submission_id"].lower():
        raise Inconsistency(
            f"the signed payload is submission {payload.get('submission_id')!r}, the change {change['submission_id']!r}"
        )
    if origin is not None and payload.get("audience") != origin:
        raise Inconsistency(f"the JWS was signed for audience {payload.get('audience')!r}, not {origin!r}")
    if not same_json(payload.get("record"), change["content"]):
        raise Inconsistency("the content served differs from the record in the signed JWS")
    return Signed(hashlib.sha256(body).hexdigest(), hashlib.sha256(payload_bytes).hexdigest(), payload)


def _record_parts(record: str) -> tuple[str, str, str]:
    parts = record.split("/")
    if len(parts) != 3 or not all(parts):
        raise Inconsistency(f"record {record!r} is not <participant>/<kind>/<record_id>")
    return parts[0], parts[1], parts[2]


# ---- the log -------------------------------------------------------------------------------------


def verify_entry(change: dict[str, Any], entry: bytes | None, signed: Signed) -> bytes:
    """The log entry at the change's ``log_index`` records exactly this accepted submission; its leaf hash."""
    index = change["log_index"]
    if entry is None:
        raise Inconsistency(f"the log has no entry {index}")
    try:
        fields = ijson.loads(entry)
    except ijson.IJSONError as exc:
        raise Inconsistency(f"log entry {index} is not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise Inconsistency(f"log entry {index} is not a JSON object")
    if fields.get("type") != "submission":
        raise Inconsistency(f"log entry {index} is a {fields.get('type')!r} entry, not a submission's")
    expected: dict[str, Any] = {
        "index": index,
        "submission_id": change["submission_id"],
        "participant": str(change["record"]).split("/", 1)[0],
        "kid": change["kid"],
        "outcome": "accepted",
        "record": change["record"],
        "version": change["version"],
        "jws_sha256": signed.jws_sha256,
        "payload_sha256": signed.payload_sha256,
    }
    for name, value in expected.items():
        if fields.get(name) != value:
            what = "the served JWS hashes to" if name.endswith("sha256") else "the change has"
            raise Inconsistency(f"log entry {index} records {name} {fields.get(name)!r}, but {what} {value!r}")
    try:
        same_time = times.parse(fields.get("received_at", "")) == times.parse(change["received_at"])
    except ValueError:
        same_time = False
    if not same_time:
        raise Inconsistency(
            f"log entry {index} records received_at {fields.get('received_at')!r}, the change {change['received_at']!r}"
        )
    return leaf_hash(entry)


@dataclass(frozen=True, slots=True)
class TrustedCheckpoint:
    """A checkpoint whose signature verified: the log had ``size`` entries with root ``root``."""

    size: int
    root: bytes
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"size": self.size, "root": base64.b64encode(self.root).decode("ascii"), "note": self.note}


def open_checkpoint(note: Any, log_origin: str, keys: Iterable[str]) -> tuple[TrustedCheckpoint, list[str]]:
    """Verify a signed checkpoint with the trusted verifier keys; return it and the keys that signed it."""
    if not isinstance(note, str):
        raise Inconsistency("the checkpoint is not text")
    signed_by: list[str] = []
    text: str | None = None
    error = "no trusted log verifier key"
    for key in keys:
        try:
            text = verify_note(note, key)
        except NoteError as exc:
            error = str(exc)
            continue
        signed_by.append(key)
    if text is None:
        raise Inconsistency(f"the checkpoint's signature does not verify: {error}")
    try:
        body = parse_checkpoint(text)
    except NoteError as exc:
        raise Inconsistency(f"the checkpoint is malformed: {exc}") from None
    if body.origin != log_origin:
        raise Inconsistency(f"the checkpoint is of log {body.origin!r}, not {log_origin!r}")
    return TrustedCheckpoint(body.size, body.root, note), signed_by


def signing_keys(note: str, candidates: Sequence[str]) -> list[str]:
    """Those of ``candidates`` that signed ``note`` (for accepting a rotated log key)."""
    found = []
    for key in candidates:
        try:
            verify_note(note, key)
        except NoteError:
            continue
        found.append(key)
    return found
