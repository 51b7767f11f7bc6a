"""Witness cosignatures: C2SP ``tlog-cosignature`` v1 with Ed25519 (signature type 0x04).

A cosignature is one more signature line on a checkpoint note, made by a witness that checked the
checkpoint is consistent with everything it saw of that log before:
``— <witness name> base64(key id || 8-byte big-endian POSIX seconds || 64-byte Ed25519 signature)``.
The signed message is ``cosignature/v1\\n``, ``time <seconds>\\n`` and the checkpoint body exactly as
the note carries it (so extension lines are covered too). The key id is the first four bytes of
``SHA-256(name || 0x0A || 0x04 || public key)``; the vkey is ``<name>+<hex key id>+<base64(0x04 ||
key)>``. The message does not bind the name, so a key must serve one witness name only.

:func:`check_quorum` is what a verifier runs: it returns the witnesses whose cosignatures verify and
raises :class:`QuorumError`, naming the witnesses that are missing or whose line fails, when fewer than
the quorum do.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from exchange.transparency.note import NoteError, decode_vkey, note_key_id, split_note

__all__ = [
    "COSIGNATURE_V1",
    "Cosignature",
    "CosignerKey",
    "QuorumError",
    "WitnessSigner",
    "check_quorum",
    "cosigned_message",
    "parse_cosigner_key",
    "verify_cosignatures",
]

COSIGNATURE_V1 = 0x04
"""Signature type byte of an Ed25519 ``cosignature/v1`` in C2SP signed-note key ids and vkeys."""

_DASH = "\u2014"
_SIGNATURE_SIZE = 64
_RAW_SIZE = 4 + 8 + _SIGNATURE_SIZE
_MAX_TIMESTAMP = (1 << 63) - 1


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a witness signs: the header line, the time line, then the checkpoint body."""
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature time must be an integer in [0, 2^63 - 1], not {timestamp!r}")
    if not body.endswith("\n"):
        raise NoteError("checkpoint body must end with a newline")
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: which witness, and the time it signed at."""

    name: str
    key_id: bytes
    timestamp: int


@dataclass(frozen=True, slots=True)
class CosignerKey:
    """A witness's Ed25519 cosigning key, parsed from its vkey."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey
    vkey: str

    def verify(self, body: str, raw: bytes) -> Cosignature:
        """Verify one signature line's payload (``key id || timestamp || signature``) over ``body``."""
        if raw[:4] != self.key_id:
            raise NoteError(f"cosignature is not by {self.name}+{self.key_id.hex()}")
        if len(raw) != _RAW_SIZE:
            raise NoteError(f"cosignature by {self.name} is {len(raw)} bytes, not {_RAW_SIZE}")
        (timestamp,) = struct.unpack(">Q", raw[4:12])
        try:
            self.public_key.verify(raw[12:], cosigned_message(body, timestamp))
        except InvalidSignature:
            raise NoteError(f"cosignature by {self.name} does not verify") from None
        return Cosignature(self.name, self.key_id, timestamp)


def parse_cosigner_key(vkey: str) -> CosignerKey:
    """Parse a witness vkey ``<name>+<hex key id>+<base64(0x04 || key)>`` (key id checked)."""
    name, key_id, public_key = decode_vkey(vkey, COSIGNATURE_V1)
    return CosignerKey(name, key_id, Ed25519PublicKey.from_public_bytes(public_key), vkey)


class WitnessSigner:
    """Makes ``cosignature/v1`` lines with one Ed25519 key under one witness name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._name = name
        self._private_key = private_key
        self._key_id = note_key_id(name, public_key, COSIGNATURE_V1)
        encoded = base64.b64encode(bytes([COSIGNATURE_V1]) + public_key).decode("ascii")
        self._vkey = f"{name}+{self._key_id.hex()}+{encoded}"
        parse_cosigner_key(self._vkey)  # checks the name as any verifier will

    def __repr__(self) -> str:
        return f"WitnessSigner({self._name!r}, key id {self._key_id.hex()})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def vkey(self) -> str:
        """The published verifier key ``<name>+<hex key id>+<base64(0x04 || public key)>``."""
        return self._vkey

    def cosign(self, body: str, timestamp: int | None = None) -> str:
        """One cosignature line (ending in a newline) over the checkpoint ``body``, at ``timestamp`` (now)."""
        at = int(time.time()) if timestamp is None else timestamp
        signature = self._private_key.sign(cosigned_message(body, at))
        payload = self._key_id + struct.pack(">Q", at) + signature
        return f"{_DASH} {self._name} {base64.b64encode(payload).decode('ascii')}\n"


class QuorumError(NoteError):
    """Fewer witnesses than the quorum cosigned a checkpoint; ``missing`` and ``invalid`` name them."""

    def __init__(self, message: str, *, missing: list[str], invalid: dict[str, str]) -> None:
        super().__init__(message)
        self.missing = missing
        self.invalid = invalid


def verify_cosignatures(note: str, witnesses: Iterable[CosignerKey]) -> tuple[list[Cosignature], dict[str, str]]:
    """Check each witness's cosignature lines in a signed note.

    Returns the verified cosignatures (one per witness) and, for each witness whose line is there but
    fails, the reason. Lines by other keys are ignored, as the signed-note format requires.
    """
    body, lines = split_note(note)
    verified: list[Cosignature] = []
    invalid: dict[str, str] = {}
    for witness in witnesses:
        found: Cosignature | None = None
        for name, raw in lines:
            if name != witness.name or raw[:4] != witness.key_id:
                continue
            try:
                found = witness.verify(body, raw)
            except NoteError as exc:
                invalid[witness.name] = str(exc)
                found = None
                break
        if found is not None:
            verified.append(found)
    return verified, invalid


def check_quorum(
    note: str, witness_vkeys: Iterable[str], quorum: int, *, now: int | None = None, max_skew: int = 300
) -> list[Cosignature]:
    """The cosignatures of ``note`` by the trusted witnesses, when at least ``quorum`` of them verify.

    A cosignature dated more than ``max_skew`` seconds after ``now`` is refused (the specification
    lets verifiers reject timestamps in the future). Raises :class:`QuorumError` naming every trusted
    witness that did not cosign and every one whose cosignature fails.
    """
    witnesses = [parse_cosigner_key(vkey) for vkey in witness_vkeys]
    if len({w.name for w in witnesses}) != len(witnesses):
        raise NoteError("two trusted witness keys share a name")
    if not isinstance(quorum, int) or not 0 <= quorum <= len(witnesses):
        raise NoteError(f"quorum must lie in [0, {len(witnesses)}] (the number of trusted witnesses), not {quorum!r}")
    verified, invalid = verify_cosignatures(note, witnesses)
    limit = (int(time.time()) if now is None else now) + max_skew
    good = []
    for cosignature in verified:
        if cosignature.timestamp > limit:
            invalid[cosignature.name] = f"cosignature by {cosignature.name} is dated in the future"
        else:
            good.append(cosignature)
    if len(good) >= quorum:
        return good
    cosigned = {c.name for c in good}
    missing = [w.name for w in witnesses if w.name not in cosigned and w.name not in invalid]
    parts = [f"{len(good)} of the required {quorum} witness cosignatures verify"]
    if missing:
        parts.append(f"no cosignature by {', '.join(missing)}")
    if invalid:
        parts.append("; ".join(f"invalid: {reason}" for reason in invalid.values()))
    raise QuorumError("; ".join(parts), missing=missing, invalid=invalid)
