"""Public keys of the participants: parsing, thumbprints and signature checks.

A key is bound to one algorithm when it is registered; a message never chooses it. Ed25519 keys
verify ``Ed25519`` (RFC 9864) and ``EdDSA`` (RFC 8037); P-256 keys verify ``ES256``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from exchange import times
from exchange.times import iso

KeyAlgorithm = Literal["Ed25519", "ES256"]
#: Header ``alg`` values each key algorithm accepts.
ACCEPTED_ALGS: dict[str, frozenset[str]] = {
    "Ed25519": frozenset({"Ed25519", "EdDSA"}),
    "ES256": frozenset({"ES256"}),
}


class KeyFormatError(ValueError):
    """The key material is not an Ed25519 or P-256 public key."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2)."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


PublicKeyObject = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def public_jwk(key: PublicKeyObject) -> tuple[KeyAlgorithm, dict[str, str]]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "Ed25519", {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        numbers = key.public_numbers()
        return "ES256", {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    raise KeyFormatError("only Ed25519 and P-256 keys are accepted")


def _key_from_jwk(jwk: dict[str, Any]) -> PublicKeyObject:
    if "d" in jwk:
        raise KeyFormatError("the JWK holds a private key; register the public key only")
    try:
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            raw = b64url_decode(jwk["x"])
            if len(raw) != 32:
                raise KeyFormatError("an Ed25519 key has 32 bytes")
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
            if len(x) != 32 or len(y) != 32:
                raise KeyFormatError("P-256 coordinates have 32 bytes")
            numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1())
            return numbers.public_key()
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, KeyFormatError):
            raise
        raise KeyFormatError(f"malformed JWK: {exc}") from None
    raise KeyFormatError("only OKP/Ed25519 and EC/P-256 JWKs are accepted")


def parse_public_key(data: bytes) -> tuple[KeyAlgorithm, dict[str, str]]:
    """Read a public key from PEM or JWK JSON; return its algorithm and canonical public JWK."""
    text = data.strip()
    if text.startswith(b"{"):
        try:
            jwk = json.loads(text)
        except ValueError as exc:
            raise KeyFormatError(f"not JSON: {exc}") from None
        if not isinstance(jwk, dict):
            raise KeyFormatError("a JWK is a JSON object")
        return public_jwk(_key_from_jwk(jwk))
    if b"PRIVATE KEY" in text:
        raise KeyFormatError("this is a private key; register the public key only")
    try:
        key = serialization.load_pem_public_key(text)
    except ValueError as exc:
        raise KeyFormatError(f"not a PEM public key or JWK: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise KeyFormatError("only Ed25519 and P-256 keys are accepted")
    return public_jwk(key)


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of a public JWK."""
    members = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class PublicKey:
    """A registered key with its lifecycle; verifies signatures with its own algorithm only."""

    kid: str
    participant: str
    alg: KeyAlgorithm
    jwk: dict[str, str]
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    added_at: datetime | None = None
    _key: PublicKeyObject = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", _key_from_jwk(self.jwk))

    @property
    def thumbprint(self) -> str:
        return jwk_thumbprint(self.jwk)

    def status_at(self, when: datetime) -> Literal["valid", "not_yet_valid", "expired", "revoked"]:
        if self.revoked_at is not None and when >= self.revoked_at:
            return "revoked"
        if when < self.valid_from:
            return "not_yet_valid"
        if self.valid_until is not None and when >= self.valid_until:
            return "expired"
        return "valid"

    def accepts(self, alg: object) -> bool:
        return isinstance(alg, str) and alg in ACCEPTED_ALGS[self.alg]

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's signature over ``signing_input``."""
        try:
            if isinstance(self._key, ed25519.Ed25519PublicKey):
                self._key.verify(signature, signing_input)
            else:
                if len(signature) != 64:
                    return False
                der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
                self._key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def to_jwk(self) -> dict[str, Any]:
        """The public JWK with its registry attributes, as published in the key directory."""
        return {
            **self.jwk,
            "kid": self.kid,
            "alg": self.alg,
            "use": "sig",
            "participant": self.participant,
            "status": "revoked" if self.revoked_at else "active",
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until) if self.valid_until else None,
            "revoked_at": iso(self.revoked_at) if self.revoked_at else None,
            "revoked_reason": self.revoked_reason,
            "thumbprint": self.thumbprint,
        }


_JWK_MEMBERS = ("kty", "crv", "x", "y")


def _optional_time(value: Any) -> datetime | None:
    return times.parse(value) if isinstance(value, str) and value else None


def from_directory_entry(document: Any) -> PublicKey:
    """A :class:`PublicKey` from an entry of the key directory (``GET /v1/keys``), as clients read it.

    Raises ValueError when the entry is not a usable key; the message names the key where it can.
    """
    if not isinstance(document, dict):
        raise ValueError("a key directory entry is a JSON object")
    jwk = {m: document[m] for m in _JWK_MEMBERS if isinstance(document.get(m), str)}
    kid, participant, alg = document.get("kid"), document.get("participant"), document.get("alg")
    if not isinstance(kid, str) or not isinstance(participant, str) or alg not in ("Ed25519", "ES256"):
        raise ValueError("a key needs kid, participant and alg (Ed25519 or ES256)")
    try:
        valid_from = _optional_time(document.get("valid_from"))
        if valid_from is None:
            raise ValueError(f"key {kid} has no valid_from")
        return PublicKey(
            kid=kid,
            participant=participant,
            alg="Ed25519" if alg == "Ed25519" else "ES256",
            jwk=jwk,
            valid_from=valid_from,
            valid_until=_optional_time(document.get("valid_until")),
            revoked_at=_optional_time(document.get("revoked_at")),
            revoked_reason=document.get("revoked_reason"),
        )
    except KeyFormatError as exc:
        raise ValueError(f"key {kid}: {exc}") from None
