"""Signed checkpoints: C2SP ``signed-note`` v1 with Ed25519 and the ``tlog-checkpoint`` v1 body.

A checkpoint body is three lines, each ending in a newline: the log's origin, the tree size in
decimal, and the root hash in standard base64. The signed note is the body, a blank line, and one or
more signature lines ``— <key name> <base64(key id || signature)>`` (the dash is U+2014). A note may
carry several signatures (the log's old and new key during a rotation, witnesses' cosignatures);
a verifier checks the line made by the key it trusts and ignores lines by other keys.

Key id: the first four bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``. Verifier key, as
published: ``<name>+<hex key id>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "Checkpoint",
    "NoteError",
    "NoteSigner",
    "VerifierKey",
    "checkpoint_body",
    "decode_vkey",
    "note_key_id",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_many",
    "split_note",
    "verify_note",
]

ED25519 = 0x01
"""Signature type byte of Ed25519 in C2SP signed-note."""

MAX_SIGNATURES = 100
"""Signature lines accepted in one note (the format requires accepting at least 16)."""

_DASH = "\u2014"
_ROOT_SIZE = 32
_SIZE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A signed note or checkpoint is malformed or does not verify; the message says why."""


class Checkpoint(NamedTuple):
    """The three mandatory lines of a checkpoint."""

    origin: str
    size: int
    root: bytes


# ---- helpers ----------------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    """Key names are non-empty and contain no whitespace or ``+``."""
    if not isinstance(name, str) or not name or "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"key name must be non-empty, without spaces or '+': {name!r}")
    if _CONTROL.search(name):
        raise NoteError("key name contains control characters")


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError(f"{what} is not standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical standard base64")
    return raw


def _check_text(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise NoteError(f"{what} must be text")
    if not text.endswith("\n"):
        raise NoteError(f"{what} must end with a newline")
    if _CONTROL.search(text):
        raise NoteError(f"{what} contains control characters other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid UTF-8 text") from None


def note_key_id(name: str, public_key: bytes, signature_type: int = ED25519) -> bytes:
    """The 4-byte key id: ``SHA-256(name || 0x0A || signature type || public key)[:4]``.

    The type is 0x01 for a note signature by an Ed25519 key, 0x04 for a ``cosignature/v1``.
    """
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


# ---- checkpoint body --------------------------------------------------------------------------------


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """The checkpoint body: origin, decimal tree size and standard-base64 root, each ending in ``\\n``."""
    if not isinstance(origin, str) or not origin or "\n" in origin or _CONTROL.search(origin):
        raise NoteError("origin must be one non-empty line of text")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise NoteError(f"tree size must be a non-negative integer, not {size!r}")
    if not isinstance(root, bytes | bytearray) or len(root) != _ROOT_SIZE:
        raise NoteError(f"root must be a {_ROOT_SIZE}-byte hash")
    return f"{origin}\n{size}\n{base64.b64encode(bytes(root)).decode('ascii')}\n"


def parse_checkpoint(body: str) -> Checkpoint:
    """Read a checkpoint body (a verified note's text) into ``(origin, size, root)``.

    Extension lines after the root are allowed by the format and ignored here.
    """
    _check_text(body, "checkpoint")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs an origin, a tree size and a root hash line")
    if any(not line for line in lines):
        raise NoteError("checkpoint contains an empty line")
    origin, size_text, root_text = lines[:3]
    if not _SIZE.fullmatch(size_text):
        raise NoteError(f"checkpoint tree size is not a decimal number without leading zeros: {size_text!r}")
    root = _b64decode(root_text, "checkpoint root hash")
    if len(root) != _ROOT_SIZE:
        raise NoteError(f"checkpoint root hash is {len(root)} bytes, not {_ROOT_SIZE}")
    return Checkpoint(origin, int(size_text), root)


# ---- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A parsed Ed25519 verifier key ``<name>+<hex key id>+<base64(0x01 || public key)>``."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    def verify(self, text: str, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, text.encode("utf-8"))
        except InvalidSignature:
            return False
        return True


def decode_vkey(verifier_key: str, signature_type: int) -> tuple[str, bytes, bytes]:
    """Check a vkey ``<name>+<hex key id>+<base64(type || 32-byte Ed25519 key)>`` of one signature type.

    Returns ``(name, key id, raw public key)``; the key id must match the name, type and key.
    """
    if not isinstance(verifier_key, str):
        raise NoteError("verifier key must be text")
    parts = verifier_key.split("+", 2)  # the base64 part may itself contain '+'
    if len(parts) != 3:
        raise NoteError("verifier key must be <name>+<hex key id>+<base64 key>")
    name, key_id_hex, key_text = parts
    _check_name(name)
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise NoteError("verifier key id must be 8 lowercase hex digits")
    raw = _b64decode(key_text, "verifier key")
    if len(raw) != 33 or raw[0] != signature_type:
        raise NoteError(f"verifier key is not of type 0x{signature_type:02x} with a 32-byte Ed25519 key")
    key_id = note_key_id(name, raw[1:], signature_type)
    if key_id.hex() != key_id_hex:
        raise NoteError("verifier key id does not match its name and public key")
    return name, key_id, raw[1:]


def parse_verifier_key(verifier_key: str) -> VerifierKey:
    """Parse and check a verifier key string (its key id must match its name and public key)."""
    name, key_id, public_key = decode_vkey(verifier_key, ED25519)
    return VerifierKey(name, key_id, Ed25519PublicKey.from_public_bytes(public_key))


class NoteSigner:
    """Signs notes with one Ed25519 key under one key name (for a log: its origin)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self._name = name
        self._private_key = private_key
        self._public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._key_id = note_key_id(name, self._public_key)

    def __repr__(self) -> str:
        return f"NoteSigner({self._name!r}, key id {self._key_id.hex()})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def verifier_key(self) -> str:
        """The published verifier key ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        encoded = base64.b64encode(bytes([ED25519]) + self._public_key).decode("ascii")
        return f"{self._name}+{self._key_id.hex()}+{encoded}"

    def signature_line(self, text: str) -> str:
        """One signature line over ``text``, ending in a newline."""
        _check_text(text, "note text")
        signature = self._private_key.sign(text.encode("utf-8"))
        return f"{_DASH} {self._name} {base64.b64encode(self._key_id + signature).decode('ascii')}\n"

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line, and this key's signature line."""
        return sign_many(text, [self])


def sign_many(text: str, signers: Iterable[NoteSigner]) -> str:
    """A note over ``text`` signed by each of ``signers`` in order (e.g. old and new key in a rotation)."""
    _check_text(text, "note text")
    lines = [signer.signature_line(text) for signer in signers]
    if not lines:
        raise NoteError("a note needs at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures")
    return text + "\n" + "".join(lines)


# ---- verification -----------------------------------------------------------------------------------


def _signature_lines(block: str) -> list[tuple[str, bytes]]:
    if not block.endswith("\n"):
        raise NoteError("signature block must end with a newline")
    parsed: list[tuple[str, bytes]] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_DASH + " "):
            raise NoteError("malformed signature line (expected '\u2014 <name> <signature>')")
        fields = line[2:].split(" ")
        if len(fields) != 2:
            raise NoteError("malformed signature line (expected '\u2014 <name> <signature>')")
        name, encoded = fields
        _check_name(name)
        raw = _b64decode(encoded, "signature")
        if len(raw) < 5:
            raise NoteError("signature is too short to carry a key id")
        parsed.append((name, raw))
    if len(parsed) > MAX_SIGNATURES:
        raise NoteError(f"note carries more than {MAX_SIGNATURES} signatures")
    return parsed


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its signature lines ``(key name, key id || signature)``.

    Nothing is verified here: the caller checks the lines made by the keys it trusts.
    """
    _check_text(note, "signed note")
    separator = note.rfind("\n\n")
    if separator < 0:
        raise NoteError("signed note has no blank line before its signatures")
    return note[: separator + 1], _signature_lines(note[separator + 2 :])


def verify_note(note: str, verifier_key: str) -> str:
    """Verify a signed note against one trusted key and return its text (the part that was signed).

    Signature lines by other keys (another name or key id) are ignored. Every line by the trusted key
    must verify, and there must be at least one; otherwise :class:`NoteError` is raised.
    """
    key = parse_verifier_key(verifier_key)
    text, lines = split_note(note)
    verified = False
    for name, raw in lines:
        if name != key.name or raw[:4] != key.key_id:
            continue
        if not key.verify(text, raw[4:]):
            raise NoteError(f"signature by {key.name} does not verify")
        verified = True
    if not verified:
        raise NoteError(f"note is not signed by {key.name}+{key.key_id.hex()}")
    return text
