"""Fixtures shared by every suite: backends on each adapter, with isolation per test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support import AMQP_URL, PG_URL, unavailable


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    import asyncpg

    schema = "t_" + secrets.token_hex(6)
    try:
        conn = await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable("PostgreSQL", f"{PG_URL}: {exc}")
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        separator = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{separator}{urlencode({'search_path': schema})}"
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


@pytest.fixture
async def amqp_prefix() -> AsyncIterator[str]:
    """A unique exchange/queue name prefix on the test broker; its queues are deleted after the test."""
    import aio_pika

    prefix = "t" + secrets.token_hex(5)
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:  # aio-pika raises several unrelated types for an unreachable broker
        unavailable("RabbitMQ", f"{AMQP_URL}: {exc}")
    yield prefix
    from exchange.queue.rabbitmq import delete_topology

    await delete_topology(connection, prefix)
    await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def repository_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sqlite", "rabbitmq"])
def queue_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def backend_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Settings that select the adapters the test is parametrised with."""
    overrides: dict[str, str] = {}
    names = request.fixturenames
    if "repository_backend" in names and request.getfixturevalue("repository_backend") == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_url")
    if "queue_backend" in names and request.getfixturevalue("queue_backend") == "rabbitmq":
        overrides["queue_url"] = AMQP_URL
        overrides["amqp_prefix"] = request.getfixturevalue("amqp_prefix")
    return overrides
