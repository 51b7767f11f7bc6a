"""Checks of one change of a repository's feed: its shape, its signed JWS, its log entry and its checkpoint.

Everything here is pure (no I/O): the follower (``exchange follow``) and the mirror node fetch, these
functions judge. A failed check raises :class:`Inconsistency` naming what failed; the caller adds the
seq and record.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from exchange import ijson, times
from exchange.identifiers import parse_record_key, participant_of_kid, sniff_serialization
from exchange.publickeys import PublicKey, from_directory_entry
from exchange.transparency.merkle import leaf_hash
from exchange.transparency.note import NoteError, parse_checkpoint, verify_note
from exchange.verification import (
    ENVELOPE_RULES,
    Expected,
    KeyLookup,
    VerificationError,
    VerifiedSubmission,
    verify_submission,
)

__all__ = [
    "ACTIONS",
    "Inconsistency",
    "KeyDirectory",
    "TrustedCheckpoint",
    "b64decode",
    "check_change",
    "is_hidden",
    "open_checkpoint",
    "same_json",
    "same_parsed_json",
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
    return _same(a, b)


def same_parsed_json(a: Any, b: Any) -> bool:
    """:func:`same_json` of two values parsed apart (so no float object, NaN above all, is in both).

    The common case runs at C speed: equal values (so no NaN, and ``null`` is never NaN) that orjson
    writes alike (so ``true`` is never ``1``, ``1`` never ``1.0`` or ``"1"``, member for member) are the
    same; anything else, including what orjson cannot write, goes through the full comparison.
    """
    try:
        if a == b and orjson.dumps(a) == orjson.dumps(b):
            return True
    except (TypeError, orjson.JSONEncodeError):
        pass
    return _same(a, b)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


# ---- the change itself ----------------------------------------------------------------------------


def is_hidden(change: Any) -> bool:
    """The repository's placeholder for a change this reader may not see: ``{"seq": N, "hidden": true}``
    and nothing else. It keeps the feed dense; there is nothing in it to verify or to apply."""
    return (
        isinstance(change, dict)
        and change.get("hidden") is True
        and len(change) == 2
        and isinstance(change.get("seq"), int)
        and not isinstance(change["seq"], bool)
    )


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


# ---- the signed submission ----------------------------------------------------------------------


def verify_jws(change: dict[str, Any], keys: KeyLookup, origin: str | None) -> VerifiedSubmission:
    """The change's JWS verifies with its key (valid when received) and signs exactly this change."""
    body = str(change["jws"]).encode("utf-8")
    try:
        participant, kind, record_id = parse_record_key(change["record"])
    except ValueError as exc:
        raise Inconsistency(str(exc)) from None
    expected = Expected(
        kid=change["kid"],
        participant=participant_of_kid(str(change["kid"])),  # an editor's, for an entry on a State's behalf
        submission_id=change["submission_id"],
        audience=origin,
        kind=kind,
        record_id=record_id,
        action=change["action"],
    )
    received_at = times.parse(change["received_at"])
    try:
        verified = verify_submission(body, sniff_serialization(body), keys, received_at=received_at, expected=expected)
    except VerificationError as exc:
        raise Inconsistency(_inconsistency(exc, change)) from None
    if verified.owner != participant:
        raise Inconsistency(f"the JWS signs a record of {verified.owner}, the change is {change['record']}")
    if not same_parsed_json(verified.record, change["content"]):
        raise Inconsistency("the content served differs from the record in the signed JWS")
    return verified


def _inconsistency(exc: VerificationError, change: dict[str, Any]) -> str:
    """What the follower reports for a JWS of the feed that does not verify."""
    if exc.rule in ENVELOPE_RULES:
        return f"the JWS is malformed: {exc.message}"
    if exc.rule == "key:unknown":
        return f"signed with key {exc.kid}, which is not in the key directory (GET /v1/keys)"
    if exc.rule == "key:not-valid":
        return f"{exc.message} ({change['received_at']})"
    if exc.rule in ("alg", "signature"):
        return f"the JWS signature does not verify: {exc.message}"
    if exc.rule == "i-json":
        return f"the signed payload is not I-JSON: {exc.message}"
    return exc.message


# ---- the log -------------------------------------------------------------------------------------


def verify_entry(change: dict[str, Any], entry: bytes | None, signed: VerifiedSubmission) -> bytes:
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
    expected: dict[str, Any] = {"index": index, "record": change["record"], "version": change["version"]}
    if fields.get("type") == "review":
        # published by an editor's approval: the entry names the reviewed submission by its exact bytes,
        # and records the editor's own signed decision (which `exchange verify` checks in full)
        expected |= {
            "action": "approve",
            "reviewed_submission_id": change["submission_id"],
            "reviewed_participant": parse_record_key(change["record"])[0],
            "reviewed_jws_sha256": signed.jws_sha256,
        }
    elif fields.get("type") == "submission":
        expected |= {
            "submission_id": change["submission_id"],
            "participant": participant_of_kid(str(change["kid"])),
            "kid": change["kid"],
            "outcome": "accepted",
            "jws_sha256": signed.jws_sha256,
            "payload_sha256": signed.payload_sha256,
        }
    else:
        raise Inconsistency(f"log entry {index} is a {fields.get('type')!r} entry, not a submission's")
    for name, value in expected.items():
        if fields.get(name) != value:
            what = "the served JWS hashes to" if name.endswith("sha256") else "the change has"
            raise Inconsistency(f"log entry {index} records {name} {fields.get(name)!r}, but {what} {value!r}")
    try:
        same_time = times.parse(fields.get("received_at", "")) == times.parse(change["received_at"])
    except ValueError:
        same_time = False
    if not same_time and fields.get("type") == "submission":
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
