"""The submission envelope: a JWS (RFC 7515) in flattened JSON or compact serialization.

Parsing yields an :class:`UnverifiedJWS` whose payload cannot be read; only :meth:`UnverifiedJWS.verify`
with the registered key returns the payload bytes (or, for bytes already verified on receipt,
:meth:`UnverifiedJWS.payload_verified_on_receipt`). The signature always covers the exact bytes
received; nothing is re-serialised before it is checked or stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from exchange import ijson
from exchange.errors import ExchangeError, Problems
from exchange.identifiers import COMPACT_MEDIA_TYPE, FLATTENED_MEDIA_TYPE, Serialization
from exchange.publickeys import KeyAlgorithm, PublicKey, b64url_decode, b64url_encode, public_jwk

SUBMISSION_TYP = "exchange-submission+json"
ACK_TYP = "exchange-ack+json"
ALLOWED_HEADER = frozenset({"alg", "kid", "typ", "cty"})


def _malformed(detail: str) -> ExchangeError:
    return ExchangeError(Problems.MALFORMED_JWS, detail)


@dataclass(frozen=True, slots=True)
class UnverifiedJWS:
    """A structurally valid JWS whose signature has not been checked yet."""

    serialization: Serialization
    header: dict[str, Any]
    protected_b64: str
    payload_b64: str
    signature: bytes
    _payload: bytes = field(repr=False)

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def payload_sha256(self) -> str:
        """Hex SHA-256 of the payload bytes: a fact about the bytes, not a sign that they are genuine."""
        return sha256_hex(self._payload)

    def verify(self, key: PublicKey) -> bytes:
        """Check the signature with ``key`` (whose algorithm must match); return the payload bytes."""
        if not key.accepts(self.alg):
            raise ExchangeError(
                Problems.ALGORITHM_MISMATCH,
                f"header alg {self.alg!r} does not match the {key.alg} key {key.kid!r}",
            )
        signing_input = f"{self.protected_b64}.{self.payload_b64}".encode("ascii")
        if not key.verify(signing_input, self.signature):
            raise ExchangeError(Problems.BAD_SIGNATURE, f"the signature does not verify with key {key.kid!r}")
        return self._payload

    def payload_verified_on_receipt(self) -> bytes:
        """The payload bytes of a JWS whose exact bytes had their signature checked when they arrived.

        Only for bytes whose SHA-256 equals that of a receipt the gateway recorded after verifying
        them (see :meth:`exchange.processing.Processor.process`); anything else goes through
        :meth:`verify`.
        """
        return self._payload


def parse(body: bytes, media_type: str, *, expected_typ: str = SUBMISSION_TYP) -> UnverifiedJWS:
    """Check the JWS structure and header allow-list. Raises :class:`ExchangeError` (400)."""
    if media_type == FLATTENED_MEDIA_TYPE:
        serialization_: Serialization = "flattened"
        try:
            outer = ijson.loads(body, max_depth=2)
        except ijson.IJSONError as exc:
            raise _malformed(f"the body is not a JSON object: {exc}") from None
        if not isinstance(outer, dict):
            raise _malformed("the body must be a JSON object with protected, payload and signature")
        if "header" in outer:
            raise ExchangeError(Problems.FORBIDDEN_HEADER, "an unprotected 'header' member is not allowed")
        extra = sorted(set(outer) - {"protected", "payload", "signature"})
        if extra:
            raise _malformed(f"unexpected member(s) {', '.join(extra)}; use the flattened serialization")
        missing = [m for m in ("protected", "payload", "signature") if not isinstance(outer.get(m), str)]
        if missing:
            raise _malformed(f"member(s) {', '.join(missing)} missing or not strings")
        protected_b64, payload_b64, signature_b64 = outer["protected"], outer["payload"], outer["signature"]
    elif media_type == COMPACT_MEDIA_TYPE:
        serialization_ = "compact"
        try:
            text = body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise _malformed("a compact JWS is ASCII") from None
        parts = text.split(".")
        if len(parts) != 3:
            raise _malformed("a compact JWS has three dot-separated parts")
        protected_b64, payload_b64, signature_b64 = parts
    else:
        raise ExchangeError(
            Problems.UNSUPPORTED_MEDIA_TYPE,
            f"send {FLATTENED_MEDIA_TYPE} (flattened JWS) or {COMPACT_MEDIA_TYPE} (compact JWS)",
        )
    try:
        header_bytes = b64url_decode(protected_b64)
        signature = b64url_decode(signature_b64)
        payload = b64url_decode(payload_b64)
    except ValueError:
        raise _malformed("protected, payload and signature must be base64url without padding") from None
    try:
        header = ijson.loads(header_bytes, max_depth=2)
    except ijson.IJSONError as exc:
        raise _malformed(f"the protected header is not I-JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _malformed("the protected header must be a JSON object")
    forbidden = sorted(set(header) - ALLOWED_HEADER)
    if forbidden:
        raise ExchangeError(
            Problems.FORBIDDEN_HEADER,
            f"header parameter(s) {', '.join(forbidden)} not allowed; allowed: {', '.join(sorted(ALLOWED_HEADER))}",
        )
    alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
    if not isinstance(alg, str) or not alg:
        raise _malformed("the protected header needs an 'alg'")
    if alg.lower() == "none":
        raise ExchangeError(Problems.ALGORITHM_MISMATCH, "alg 'none' is never accepted")
    if not isinstance(kid, str) or not kid:
        raise _malformed("the protected header needs a 'kid'")
    if typ not in (expected_typ, f"application/{expected_typ}"):
        raise _malformed(f"the protected header 'typ' must be {expected_typ!r}")
    return UnverifiedJWS(serialization_, header, protected_b64, payload_b64, signature, payload)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SigningKey:
    """A private key bound to its algorithm and key id."""

    def __init__(self, kid: str, key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> None:
        self.kid = kid
        self._key = key
        alg, self.public_jwk = public_jwk(key.public_key())
        self.alg: KeyAlgorithm = alg

    @classmethod
    def generate(cls, kid: str, alg: KeyAlgorithm = "Ed25519") -> SigningKey:
        if alg == "Ed25519":
            return cls(kid, ed25519.Ed25519PrivateKey.generate())
        return cls(kid, ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, kid: str, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("only Ed25519 and P-256 private keys can sign")
        return cls(kid, key)

    @classmethod
    def from_file(cls, kid: str, path: Path) -> SigningKey:
        return cls.from_pem(kid, path.read_bytes())

    @property
    def private_key(self) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey:
        return self._key

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(data)
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def sign_jws(self, payload: bytes, typ: str = SUBMISSION_TYP) -> dict[str, str]:
        """A flattened JWS over ``payload`` with the protected header {alg, kid, typ}."""
        header = ijson.dumps({"alg": self.alg, "kid": self.kid, "typ": typ})
        protected = b64url_encode(header)
        encoded = b64url_encode(payload)
        signature = self.sign(f"{protected}.{encoded}".encode("ascii"))
        return {"protected": protected, "payload": encoded, "signature": b64url_encode(signature)}
