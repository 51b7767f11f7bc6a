"""The real app over HTTP, once per backend stack: embedded (SQLite + SQLite queue) and scale-out
(PostgreSQL + RabbitMQ)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exchange import admin
from exchange.envelope import SigningKey
from exchange.gateway.app import create_app
from exchange.gateway.appkeys import SERVICES
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.services import Services
from tests.conftest import backend_overrides
from tests.support import Signer, make_settings
from workers import deliver, validate


@pytest.fixture(params=["embedded", "scale-out"])
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Service:
    """A running app with one registered State (GBR), its key, and tokens."""

    client: TestClient[Any, Any]
    services: Services
    signer: Signer
    admin_token: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, body: bytes, media_type: str = FLATTENED_MEDIA_TYPE) -> tuple[int, Any]:
        response = await self.client.post("/v1/submissions", data=body, headers={"Content-Type": media_type})
        return response.status, await response.json(content_type=None)

    async def verdict(self, participant: str, submission_id: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.client.get(
                f"/v1/submissions/{participant}/{submission_id}",
                headers={"Authorization": f"Bearer {self.admin_token}"},
            )
            body = await response.json()
            assert response.status == 200, body
            if body["status"] != "received" or asyncio.get_running_loop().time() > deadline:
                return dict(body)
            await asyncio.sleep(0.02)

    async def submit_and_wait(self, body: bytes) -> dict[str, Any]:
        status, ack = await self.post(body)
        assert status == 202, ack
        return await self.verdict(ack["participant"], ack["submission_id"])


async def start_service(tmp_path: Path, overrides: dict[str, Any]) -> tuple[TestClient[Any, Any], Services]:
    settings = make_settings(tmp_path, **overrides)
    app = create_app(settings, background=[validate.background, deliver.run])
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client, app[SERVICES]


async def register(
    services: Services,
    participant: str,
    type_: str = "member_state",
    jurisdictions: tuple[str, ...] = (),
    alg: str = "Ed25519",
) -> Signer:
    if await services.repository.get_participant(participant) is None:
        await admin.add_participant(
            services.repository, services.validator, participant, f"{participant} ministry", type_, list(jurisdictions)
        )
    key = SigningKey.generate(
        f"{participant}/k{len(await services.repository.list_keys(participant)) + 1}",
        "Ed25519" if alg == "Ed25519" else "ES256",
    )
    await admin.add_key(services.repository, key.kid, json.dumps(key.public_jwk).encode())
    return Signer(key, audience=services.settings.public_origin)


@pytest.fixture
async def service(tmp_path: Path, stack: str, request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    scale_out = stack == "scale-out"
    async with backend_overrides("postgresql" if scale_out else "sqlite", "rabbitmq" if scale_out else "sqlite") as o:
        overrides: dict[str, Any] = dict(o)
        marker = request.node.get_closest_marker("settings")
        if marker is not None:
            overrides.update(marker.kwargs)
        client, services = await start_service(tmp_path, overrides)
        try:
            signer = await register(services, "GBR")
            admin_secret, _ = await admin.create_token(services.repository, "admin", None)
            secret, _ = await admin.create_token(services.repository, "participant", "GBR")
            yield Service(client, services, signer, admin_secret, secret)
        finally:
            await client.close()
