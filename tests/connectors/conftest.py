"""Fixtures for the connectors: the real app over HTTP with a registered State, and local file servers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from connectors.sdk import ExchangeClient, RetryPolicy
from exchange import admin
from exchange.envelope import SigningKey
from exchange.services import Services
from tests.e2e.conftest import register, start_service
from tests.e2e.process import Server, environment, exchange
from tests.support import shared_path

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@dataclass
class Repository:
    """The real app on a loopback port, with State ``participant`` registered (key and participant token)."""

    url: str
    key: SigningKey
    token: str
    admin_token: str
    services: Services
    http: TestClient[Any, Any]

    def client(self, *, token: bool = True, retry: RetryPolicy = FAST, **kwargs: Any) -> ExchangeClient:
        return ExchangeClient(self.url, key=self.key, token=self.token if token else None, retry=retry, **kwargs)


async def open_repository(tmp_path: Path, participant: str = "ZAF", **settings: Any) -> Repository:
    http, services = await start_service(tmp_path, settings)
    signer = await register(services, participant)
    token, _ = await admin.create_token(services.repository, "participant", participant)
    admin_token, _ = await admin.create_token(services.repository, "admin", None)
    url = str(http.make_url("")).rstrip("/")
    return Repository(url, signer.key, token, admin_token, services, http)


@pytest.fixture
async def repository(tmp_path: Path) -> AsyncIterator[Repository]:
    repo = await open_repository(tmp_path / "repository")
    try:
        yield repo
    finally:
        await repo.http.close()


@pytest.fixture
def akn_dir() -> Path:
    return shared_path("data", "akn")


@pytest.fixture
def feed_file() -> Path:
    return shared_path("data", "feeds", "legislation_gov_uk_new_2015-12.feed.xml")


@pytest.fixture
def example_law() -> dict[str, Any]:
    from importlib import resources

    path = resources.files("schemas") / "examples" / "law" / "zaf-cybercrimes-act-2020.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


Routes = dict[str, Callable[[web.Request], Any] | tuple[int, str, bytes]]


@pytest.fixture
async def web_server() -> AsyncIterator[Callable[[Routes], Any]]:
    """Serve fixed bodies (or handlers) on a loopback port: ``base = await web_server({"/path": (200, type, body)})``."""
    servers: list[TestServer] = []

    async def start(routes: Routes) -> str:
        app = web.Application()

        def handler_for(path: str, spec: Any) -> Any:
            async def handler(request: web.Request) -> web.StreamResponse:
                if callable(spec):
                    result: web.StreamResponse = await spec(request)
                    return result
                status, content_type, body = spec
                return web.Response(status=status, body=body, content_type=content_type)

            return handler

        for path, spec in routes.items():
            app.router.add_route("*", path, handler_for(path, spec))
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@dataclass
class Served:
    """``exchange serve`` as a real process, with State ZAF registered through the command line."""

    server: Server
    kid: str
    key_file: Path
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    def args(self, outbox: Path) -> list[str]:
        return [
            "--url",
            self.url,
            "--kid",
            self.kid,
            "--key",
            str(self.key_file),
            "--token",
            self.token,
            "--outbox",
            str(outbox),
        ]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return exchange(*args, env={**self.server.env, "EXCHANGE_CLIENT_RETRIES": "2"})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Server(environment(tmp_path / "data"))
    server.env["EXCHANGE_ORIGIN"] = server.url
    key = SigningKey.generate("ZAF/2026-01")
    key_file = tmp_path / "ZAF_2026-01.private.pem"
    key_file.write_bytes(key.private_pem())
    (tmp_path / "ZAF.jwk").write_text(json.dumps(key.public_jwk))
    env = server.env
    exchange(
        "admin",
        "--init",
        "participant",
        "add",
        "ZAF",
        "--name",
        "South Africa",
        "--type",
        "member_state",
        env=env,
        check=True,
    )
    exchange("admin", "key", "add", key.kid, "--public-key", str(tmp_path / "ZAF.jwk"), env=env, check=True)
    token = exchange("admin", "token", "create", "--participant", "ZAF", "--role", "participant", env=env, check=True)
    served = Served(server.start(), key.kid, key_file, token.stdout.strip())
    try:
        yield served
    finally:
        server.stop()
