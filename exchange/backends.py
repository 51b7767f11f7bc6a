"""Composition of the storage backends the settings name (the one place that chooses adapters)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exchange.handover import Handover, SeparateHandover, SharedFileHandover
from exchange.queue.port import SubmissionQueue
from exchange.repository.port import Repository
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase

SqliteFactory = Callable[[Path], SqliteDatabase]


@dataclass
class Backends:
    repository: Repository
    queue: SubmissionQueue

    @classmethod
    def from_settings(cls, settings: Settings) -> Backends:
        """Build (not open) the adapters; embedded ones on the same file share one database object."""
        databases: dict[Path, SqliteDatabase] = {}

        def sqlite(path: Path) -> SqliteDatabase:
            key = path.resolve() if path.exists() else path.absolute()
            if key not in databases:
                databases[key] = SqliteDatabase(key, synchronous=settings.sqlite_synchronous)
            return databases[key]

        return cls(open_repository(settings, sqlite), open_queue(settings, sqlite))

    def handover(self) -> Handover:
        """How receipts reach the queue and decisions settle their deliveries: the one place that chooses.

        One transaction each where both backends share an SQLite file; otherwise commit, then publish
        or acknowledge (see :mod:`exchange.handover`).
        """
        from exchange.queue.sqlite import SqliteQueue
        from exchange.repository.sqlite import SqliteRepository

        repository, queue = self.repository, self.queue
        if isinstance(repository, SqliteRepository) and isinstance(queue, SqliteQueue) and repository.db is queue.db:
            return SharedFileHandover(repository, queue)
        return SeparateHandover(repository, queue)

    async def open(self) -> None:
        await self.repository.open()
        try:
            await self.queue.open()
        except BaseException:
            await self.repository.close()
            raise

    async def close(self) -> None:
        try:
            await self.queue.close()
        finally:
            await self.repository.close()


def open_repository(settings: Settings, sqlite: SqliteFactory) -> Repository:
    url = settings.database_url or ""
    if url.startswith(("postgresql://", "postgres://")):
        from exchange.repository.postgresql import PostgresRepository

        return PostgresRepository(url, settings)
    path = settings.sqlite_path
    if path is None:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://…")
    from exchange.repository.sqlite import SqliteRepository

    return SqliteRepository(sqlite(path), settings)


def open_queue(settings: Settings, sqlite: SqliteFactory) -> SubmissionQueue:
    url = settings.queue_url or ""
    if url.startswith(("amqp://", "amqps://")):
        from exchange.queue.rabbitmq import RabbitQueue

        return RabbitQueue(url, settings)
    if url.startswith("sqlite:///"):
        path: Path | None = Path(url.removeprefix("sqlite:///"))
    elif url:
        raise ValueError(f"unsupported queue URL {url!r}: leave it unset for the embedded queue, or amqp://…")
    else:
        path = settings.sqlite_path
    if path is None:
        raise ValueError("the embedded queue needs an SQLite database: set EXCHANGE_QUEUE_URL=amqp://…")
    from exchange.queue.sqlite import SqliteQueue

    return SqliteQueue(sqlite(path), settings)
