"""The repository's own keys: one signs acknowledgments of submissions, one the log's checkpoints.

Each is generated at first start and kept in the data directory (or read from the file its setting
names, which every process of a scale-out deployment must share). Written with mode 0600; never
logged.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.envelope import SigningKey
from exchange.publickeys import jwk_thumbprint
from exchange.settings import Settings
from exchange.transparency.note import NoteSigner


def _write_private(path: Path, pem: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_or_create(path: Path, label: str) -> SigningKey:
    """Read the Ed25519 key at ``path``, creating it first when absent; kid = repository/LABEL-THUMB."""
    if not path.exists():
        fresh = SigningKey.generate("repository/new")
        with contextlib.suppress(FileExistsError):  # another process created it first: read theirs
            _write_private(path, fresh.private_pem())
    key = SigningKey.from_file("repository/pending", path)
    key.kid = f"repository/{label}-{jwk_thumbprint(key.public_jwk)[:8]}"
    return key


def ack_key(settings: Settings) -> SigningKey:
    return load_or_create(settings.signing_key_file or settings.data_dir / "keys" / "signing.pem", "ack")


def log_origin(settings: Settings) -> str:
    """The log's name in checkpoints and verifier keys: the public origin without its scheme."""
    return settings.public_origin.split("://", 1)[-1]


def log_signers(settings: Settings) -> list[NoteSigner]:
    """The checkpoint signers: the current log key first, then the previous one during a rotation."""
    files = [settings.log_key_file or settings.data_dir / "keys" / "log.pem"]
    if settings.log_previous_key_file is not None:
        files.append(settings.log_previous_key_file)
    signers = []
    for path in files:
        key = load_or_create(path, "log")
        private = key.private_key
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"the log key {path} must be an Ed25519 key")
        signers.append(NoteSigner(log_origin(settings), private))
    return signers
