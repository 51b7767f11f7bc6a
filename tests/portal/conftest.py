"""A running service with real, signed records for the portal's tests (both stacks)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.e2e.conftest import Service, register, service, stack
from tests.support import Signer, example_owner, examples


@dataclass
class Loaded:
    service: Service
    signers: dict[str, Signer]


async def load_examples(service: Service) -> dict[str, Signer]:
    """Every packaged example, submitted by its owner and accepted."""
    signers: dict[str, Signer] = {}
    for kind, record_id, record in examples():
        owner = example_owner(kind, record)
        if owner not in signers:
            if owner.startswith("org:"):
                granted = ("PHL", "KEN", "ZAF", "GBR", "USA", "IRL", "DEU")
                signers[owner] = await register(service.services, owner, "intergovernmental_organization", granted)
            else:
                signers[owner] = await register(service.services, owner)
        verdict = await service.submit_and_wait(signers[owner].submission(record, kind=kind, record_id=record_id))
        assert verdict["status"] == "accepted", (kind, record_id, verdict)
    return signers


@pytest.fixture
async def loaded(service: Service) -> Loaded:
    return Loaded(service, await load_examples(service))


__all__ = ["Loaded", "load_examples", "service", "stack"]
