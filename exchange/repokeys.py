"""The repository's own signing key: it signs acknowledgments of submissions.

Generated at first start and kept in the data directory (or read from ``EXCHANGE_SIGNING_KEY_FILE``,
which every gateway of a scale-out deployment must share). Written with mode 0600; never logged.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from exchange.envelope import SigningKey
from exchange.keys import jwk_thumbprint
from exchange.settings import Settings


def _write_private(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
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
