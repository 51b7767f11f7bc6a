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
from tests.support import make_settings


@pytest.fixture
def contract_settings(tmp_path: Path, backend_overrides: dict[str, str]) -> Settings:
    return make_settings(tmp_path, **backend_overrides)


@pytest.fixture
async def repository(repository_backend: str, contract_settings: Settings) -> AsyncIterator[Repository]:
    databases: dict[Path, SqliteDatabase] = {}
    repo = open_repository(contract_settings, lambda p: databases.setdefault(p, SqliteDatabase(p)))
    await repo.open()
    yield repo
    await repo.close()


@pytest.fixture
async def queue(queue_backend: str, contract_settings: Settings) -> AsyncIterator[SubmissionQueue]:
    databases: dict[Path, SqliteDatabase] = {}
    q = open_queue(contract_settings, lambda p: databases.setdefault(p, SqliteDatabase(p)))
    await q.open()
    yield q
    await q.close()


@pytest.fixture
def reopen_queue(contract_settings: Settings) -> Callable[[], SubmissionQueue]:
    """A factory for a second, independent queue object on the same backend (another process's view)."""

    def make() -> SubmissionQueue:
        databases: dict[Path, SqliteDatabase] = {}
        return open_queue(contract_settings, lambda p: databases.setdefault(p, SqliteDatabase(p)))

    return make
