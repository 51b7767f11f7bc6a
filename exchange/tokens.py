"""API tokens: random bearer secrets, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "xt_"  # noqa: S105 (a prefix, not a secret)


def new_token() -> tuple[str, str, str]:
    """A fresh token: (secret shown once, its hash to store, a public token id)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_token(secret), "tok_" + secrets.token_hex(6)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
