"""Log entries: the exact RFC 8785 (JCS) bytes that the transparency log hashes as leaves.

Two kinds of entry share the log (DESIGN §7):

* a submission outcome ``{"v":1, "type":"submission", "index", "submission_id", "participant", "kid",
  "jws_sha256", "payload_sha256", "received_at", "outcome", "record", "version"}``, where ``record`` and
  ``version`` appear only when the outcome is ``accepted``;
* a key event ``{"v":1, "type":"key", "index", "action", "kid", "participant", "jwk_thumbprint", "at"}``;
* an editor's review decision ``{"v":1, "type":"review", "index", "submission_id", "participant", "kid",
  "jws_sha256", "payload_sha256", "received_at", "action", "reviewed_participant",
  "reviewed_submission_id", "reviewed_jws_sha256", "record", "version"}``: the first fields are the
  editor's own signed decision as for a submission, ``action`` is ``approve`` or ``return``, the
  ``reviewed_*`` fields name the submission decided, and ``record`` and ``version`` (approve only) the
  version it became.

* a participant's endorsement of a version entered on its behalf ``{"v":1, "type":"endorsement",
  "index", "submission_id", "participant", "kid", "jws_sha256", "payload_sha256", "received_at",
  "record", "version", "endorsed_jws_sha256"}``: its own signed submission, and the version it endorses
  named by its number and the SHA-256 of the JWS bytes it was published from.

A submission held for review is logged with the outcome ``pending_review`` (no record or version); its
approval is the ``review`` entry that gives it its version.

The builders check every field and return the canonical bytes; the stored and published entry is
exactly these bytes, so anyone can recompute its leaf hash.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal, cast

import rfc8785

__all__ = [
    "ENTRY_VERSION",
    "CanonicalJSONError",
    "EntryError",
    "KeyAction",
    "Outcome",
    "canonical",
    "endorsement_entry",
    "key_entry",
    "review_entry",
    "submission_entry",
]

ENTRY_VERSION = 1
_SAFE_INTEGER = 2**53 - 1

Outcome = Literal["accepted", "rejected", "pending_review"]
ReviewAction = Literal["approve", "return"]
KeyAction = Literal["added", "revoked"]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z")


class CanonicalJSONError(ValueError):
    """A value has no RFC 8785 canonical form (or none that other JSON implementations read back exactly)."""


class EntryError(ValueError):
    """A log entry field is missing or malformed."""


def canonical(obj: object) -> bytes:
    """The RFC 8785 (JCS) canonical JSON of ``obj``, as UTF-8 bytes.

    Integers must lie within ±(2^53−1), the range every JSON implementation reads back exactly (send
    larger numbers as strings); NaN and infinities have no JSON form; object keys must be strings.
    """
    try:
        result = rfc8785.dumps(cast(Any, obj))  # the library checks every value's type itself
    except rfc8785.IntegerDomainError as exc:
        raise CanonicalJSONError(
            f"integer outside ±(2^53−1) has no exact JSON form; send it as a string ({exc})"
        ) from exc
    except rfc8785.FloatDomainError as exc:
        raise CanonicalJSONError(f"NaN and infinity have no JSON form ({exc})") from exc
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalJSONError(f"value has no canonical JSON form: {exc}") from exc
    return result


_FLAT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _canonical_flat(entry: dict[str, object]) -> bytes:
    """RFC 8785 for the log's own entries, fast: one level of ASCII keys whose values are strings or
    integers in ±(2^53−1). For such objects JCS is exactly sorted keys, no whitespace, JSON string
    escapes with lower-case hex and UTF-8 text, which the standard encoder writes; a test holds the two
    equal. Anything else goes through :func:`canonical`."""
    if all(k.isascii() for k in entry) and all(
        (type(v) is str and not any(0xD800 <= ord(c) <= 0xDFFF for c in v))
        or (type(v) is int and -_SAFE_INTEGER <= v <= _SAFE_INTEGER)
        for v in entry.values()
    ):
        return _FLAT.encode(entry).encode("utf-8")
    return _canonical_flat(entry)


# ---- field checks -----------------------------------------------------------------------------------


def _text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise EntryError(f"{name} must be a non-empty string")
    return value


def _count(name: str, value: int, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= _SAFE_INTEGER:
        raise EntryError(f"{name} must be an integer from {minimum} to 2^53−1, not {value!r}")
    return value


def _sha256_hex(name: str, value: str) -> str:
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise EntryError(f"{name} must be a SHA-256 digest in 64 lowercase hex digits")
    return value


def _utc_time(name: str, value: str) -> str:
    """An RFC 3339 UTC time ending in ``Z``, kept exactly as given."""
    if not isinstance(value, str) or not _UTC_TIME.fullmatch(value):
        raise EntryError(f"{name} must be an RFC 3339 UTC time ending in 'Z', not {value!r}")
    try:
        datetime.fromisoformat(value[:19])
    except ValueError:
        raise EntryError(f"{name} is not a valid date and time: {value!r}") from None
    return value


# ---- builders ---------------------------------------------------------------------------------------


def _signed(
    kind: str,
    index: int,
    submission_id: str,
    participant: str,
    kid: str,
    jws_sha256: str,
    payload_sha256: str,
    received_at: str,
) -> dict[str, object]:
    """The fields every entry of a signed submission starts with, checked."""
    return {
        "v": ENTRY_VERSION,
        "type": kind,
        "index": _count("index", index, 0),
        "submission_id": _text("submission_id", submission_id),
        "participant": _text("participant", participant),
        "kid": _text("kid", kid),
        "jws_sha256": _sha256_hex("jws_sha256", jws_sha256),
        "payload_sha256": _sha256_hex("payload_sha256", payload_sha256),
        "received_at": _utc_time("received_at", received_at),
    }


def submission_entry(
    *,
    index: int,
    submission_id: str,
    participant: str,
    kid: str,
    jws_sha256: str,
    payload_sha256: str,
    received_at: str,
    outcome: Outcome,
    record: str | None = None,
    version: int | None = None,
) -> bytes:
    """The log entry for a submission's outcome.

    ``record`` (``<participant>/<kind>/<record_id>``) and ``version`` are required when ``outcome`` is
    ``"accepted"`` and must be left out when it is ``"rejected"`` or ``"pending_review"``.
    """
    entry = _signed("submission", index, submission_id, participant, kid, jws_sha256, payload_sha256, received_at)
    entry["outcome"] = outcome
    if outcome not in ("accepted", "rejected", "pending_review"):
        raise EntryError(f"outcome must be 'accepted', 'rejected' or 'pending_review', not {outcome!r}")
    _name_version(entry, record, version, outcome == "accepted", f"{outcome} submission")
    return _canonical_flat(entry)


def _name_version(entry: dict[str, object], record: str | None, version: int | None, named: bool, what: str) -> None:
    """Add ``record`` and ``version`` to ``entry`` when it must name them (``named``); refuse them otherwise."""
    if named:
        if record is None or version is None:
            raise EntryError(f"an entry of an {what} needs record and version")
        entry["record"] = _text("record", record)
        entry["version"] = _count("version", version, 1)
    elif record is not None or version is not None:
        raise EntryError(f"an entry of a {what} carries no record or version")


def review_entry(
    *,
    index: int,
    submission_id: str,
    participant: str,
    kid: str,
    jws_sha256: str,
    payload_sha256: str,
    received_at: str,
    action: ReviewAction,
    reviewed_participant: str,
    reviewed_submission_id: str,
    reviewed_jws_sha256: str,
    record: str | None = None,
    version: int | None = None,
) -> bytes:
    """The log entry for an editor's review decision that took effect.

    ``record`` and ``version`` (the version the reviewed submission became) are required to ``approve``
    and must be left out to ``return``.
    """
    entry = _signed("review", index, submission_id, participant, kid, jws_sha256, payload_sha256, received_at)
    entry |= {
        "action": action,
        "reviewed_participant": _text("reviewed_participant", reviewed_participant),
        "reviewed_submission_id": _text("reviewed_submission_id", reviewed_submission_id),
        "reviewed_jws_sha256": _sha256_hex("reviewed_jws_sha256", reviewed_jws_sha256),
    }
    if action not in ("approve", "return"):
        raise EntryError(f"action must be 'approve' or 'return', not {action!r}")
    _name_version(entry, record, version, action == "approve", f"{action} decision")
    return _canonical_flat(entry)


def endorsement_entry(
    *,
    index: int,
    submission_id: str,
    participant: str,
    kid: str,
    jws_sha256: str,
    payload_sha256: str,
    received_at: str,
    record: str,
    version: int,
    endorsed_jws_sha256: str,
) -> bytes:
    """The log entry for a participant's endorsement of a version of its record."""
    entry = _signed("endorsement", index, submission_id, participant, kid, jws_sha256, payload_sha256, received_at)
    entry |= {
        "record": _text("record", record),
        "version": _count("version", version, 1),
        "endorsed_jws_sha256": _sha256_hex("endorsed_jws_sha256", endorsed_jws_sha256),
    }
    return _canonical_flat(entry)


def key_entry(
    *,
    index: int,
    action: KeyAction,
    kid: str,
    participant: str,
    jwk_thumbprint: str,
    at: str,
) -> bytes:
    """The log entry for a key event: a participant's key ``added`` or ``revoked`` at time ``at``."""
    if action not in ("added", "revoked"):
        raise EntryError(f"action must be 'added' or 'revoked', not {action!r}")
    return _canonical_flat(
        {
            "v": ENTRY_VERSION,
            "type": "key",
            "index": _count("index", index, 0),
            "action": action,
            "kid": _text("kid", kid),
            "participant": _text("participant", participant),
            "jwk_thumbprint": _text("jwk_thumbprint", jwk_thumbprint),
            "at": _utc_time("at", at),
        }
    )
