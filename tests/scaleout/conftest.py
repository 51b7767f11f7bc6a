"""A fresh scale-out deployment per test: its own PostgreSQL schema and RabbitMQ names, real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import amqp_namespace, pg_schema
from tests.scaleout.processes import Stack, stack_on


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with pg_schema() as database_url, amqp_namespace() as prefix, stack_on(tmp_path, database_url, prefix) as s:
        yield s
