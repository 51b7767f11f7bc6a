"""Fixtures shared by every suite: backends on each adapter, with isolation per test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

import pytest

from tests.support import AMQP_URL, PG_URL, unavailable


@asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import asyncpg

    schema = "t_" + secrets.token_hex(6)
    try:
        conn = await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable(f"PostgreSQL at {PG_URL}", exc)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        separator = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{separator}{urlencode({'search_path': schema})}"
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


@asynccontextmanager
async def amqp_namespace() -> AsyncIterator[str]:
    """A unique exchange/queue name prefix on the test broker; its topology is deleted afterwards."""
    import aio_pika

    prefix = "t" + secrets.token_hex(5)
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:  # aio-pika raises several unrelated types for an unreachable broker
        unavailable(f"RabbitMQ at {AMQP_URL}", exc)
    try:
        yield prefix
    finally:
        from exchange.queue.amqp_topology import delete_topology

        await delete_topology(connection, prefix)
        await connection.close()


@asynccontextmanager
async def backend_overrides(database: str, queue: str) -> AsyncIterator[dict[str, str]]:
    """Settings selecting the adapters: ``database`` sqlite|postgresql, ``queue`` sqlite|rabbitmq."""
    overrides: dict[str, str] = {}
    async with _maybe(database == "postgresql", pg_schema) as url, _maybe(queue == "rabbitmq", amqp_namespace) as ns:
        if url is not None:
            overrides["database_url"] = url
        if ns is not None:
            overrides.update(queue_url=AMQP_URL, amqp_prefix=ns)
        yield overrides


@asynccontextmanager
async def _maybe(wanted: bool, factory: object) -> AsyncIterator[str | None]:
    if not wanted:
        yield None
        return
    async with factory() as value:  # type: ignore[operator]
        yield value


def param(request: pytest.FixtureRequest, name: str, default: str) -> str:
    """The value a parametrised fixture takes for this test, without setting it up."""
    callspec = getattr(request.node, "callspec", None)
    return str(callspec.params.get(name, default)) if callspec else default


@pytest.fixture(params=["sqlite", "postgresql"])
def repository_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sqlite", "rabbitmq"])
def queue_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL URL on a fresh schema, for adapter-specific tests."""
    async with pg_schema() as url:
        yield url


@pytest.fixture
async def amqp_prefix() -> AsyncIterator[str]:
    """A fresh RabbitMQ name prefix, for adapter-specific tests."""
    async with amqp_namespace() as prefix:
        yield prefix
