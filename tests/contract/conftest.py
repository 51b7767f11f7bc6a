"""Open adapters for the contract suites: every test runs once per adapter of its port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from exchange.backends import open_queue, open_repository
from exchange.queue.port import SubmissionQueue
from exchange.repository.port import Repository
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase
from tests.conftest import backend_overrides, param
from tests.support import make_settings


@pytest.fixture
async def contract_settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    database = param(request, "repository_backend", "sqlite")
    queue = param(request, "queue_backend", "sqlite")
    async with backend_overrides(database, queue) as overrides:
        yield make_settings(tmp_path, **overrides)


def _local(settings: Settings) -> Callable[[Path], SqliteDatabase]:
    databases: dict[Path, SqliteDatabase] = {}
    return lambda p: databases.setdefault(p, SqliteDatabase(p))


@pytest.fixture
async def repository(repository_backend: str, contract_settings: Settings) -> AsyncIterator[Repository]:
    repo = open_repository(contract_settings, _local(contract_settings))
    await repo.open()
    yield repo
    await repo.close()


@pytest.fixture
async def queue(queue_backend: str, contract_settings: Settings) -> AsyncIterator[SubmissionQueue]:
    q = open_queue(contract_settings, _local(contract_settings))
    await q.open()
    yield q
    await q.close()


@pytest.fixture
def reopen_queue(contract_settings: Settings) -> Callable[[], SubmissionQueue]:
    """A factory for a second, independent queue object on the same backend (another process's view)."""
    return lambda: open_queue(contract_settings, _local(contract_settings))
