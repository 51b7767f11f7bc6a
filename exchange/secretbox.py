"""Secrets the service must keep but never store readable: webhook signing secrets.

A reader of the database alone (a backup, a copy of the file, a read-only SQL account) must not be
able to sign webhooks as the repository. Each secret is sealed with AES-256-GCM under a key kept in
its own file (mode 0600, outside the database), with the row's identity as associated data, so a
sealed value copied onto another subscription does not open. Values written before sealing existed
(no prefix) are read as they are and sealed at their next rotation.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.settings import Settings

SEALED_PREFIX = "sealed:v1:"
_KEY_BYTES = 32
_NONCE_BYTES = 12


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError(f"a secrets key holds {_KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(load_or_create_key(settings.secrets_key_file or settings.data_dir / "keys" / "secrets.key"))

    def seal(self, secret: str, context: str) -> str:
        """The stored form of ``secret`` for the row ``context`` (a subscription id)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), context.encode())
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str, context: str) -> str:
        """The secret a stored value holds; ValueError when it was sealed with another key or for another row."""
        if not stored.startswith(SEALED_PREFIX):
            return stored
        raw = base64.b64decode(stored.removeprefix(SEALED_PREFIX))
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
        except InvalidTag:
            raise ValueError("the sealed secret does not open with this key for this row") from None


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path`` (base64), created with mode 0600 at first use; every process must share it."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process created it first: read theirs
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode() + "\n")
    key = base64.b64decode(path.read_text().strip())
    if len(key) != _KEY_BYTES:
        raise ValueError(f"{path} must hold {_KEY_BYTES} bytes in base64")
    return key
