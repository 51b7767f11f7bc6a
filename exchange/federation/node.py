"""A node's federation parts, built once from the settings: the store, its witness, and its witnesses.

The witness key is kept like the log key (:mod:`exchange.servicekeys`): generated at first start in the
data directory, or read from ``EXCHANGE_WITNESS_KEY_FILE``, mode 0600, never logged. It is loaded only
when the node witnesses some log, and is distinct from the log key (one key per signing role).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.backends import Backends
from exchange.federation.store import FederationStore, open_store
from exchange.federation.witness import Witness
from exchange.servicekeys import load_or_create, log_origin
from exchange.settings import Settings
from exchange.transparency.cosignature import CosignerKey, WitnessSigner, parse_cosigner_key


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness our log asks for cosignatures: its key and its ``add-checkpoint`` URL prefix."""

    key: CosignerKey
    url: str

    @property
    def add_checkpoint_url(self) -> str:
        return self.url.rstrip("/") + "/add-checkpoint"


@dataclass
class Federation:
    store: FederationStore
    witness: Witness | None = None
    witnesses: list[WitnessEndpoint] = field(default_factory=list)

    def info(self) -> dict[str, Any] | None:
        """This node as a witness, for ``GET /v1/info``: None when it witnesses no log."""
        if self.witness is None:
            return None
        return {
            "name": self.witness.signer.name,
            "verifier_key": self.witness.signer.vkey,
            "add_checkpoint": "/witness/add-checkpoint",
            "logs": self.witness.origins,
        }


def witness_signer(settings: Settings, role: str = "witness") -> WitnessSigner:
    """The node's cosigning key: as a witness, or (``role`` ``mirror``) as a mirror of its upstream; named
    ``witness_name``, else the log origin followed by ``/<role>``."""
    path = settings.witness_key_file or settings.data_dir / "keys" / "witness.pem"
    private = load_or_create(path, "witness").private_key
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"the witness key {path} must be an Ed25519 key")
    return WitnessSigner(settings.witness_name or f"{log_origin(settings)}/{role}", private)


def witness_endpoints(settings: Settings) -> list[WitnessEndpoint]:
    endpoints = []
    for entry in settings.witnesses:
        vkey, url = entry.split()
        endpoints.append(WitnessEndpoint(parse_cosigner_key(vkey), url))
    return endpoints


@asynccontextmanager
async def open_federation(settings: Settings, backends: Backends) -> AsyncIterator[Federation]:
    """Open the federation store on the (open) backends' database; close it on exit."""
    store = open_store(settings, backends.repository)
    await store.open()
    try:
        witness = Witness(witness_signer(settings), settings.witness_logs, store) if settings.witness_logs else None
        yield Federation(store, witness, witness_endpoints(settings))
    finally:
        await store.close()
