"""Composition of the storage backends the settings name (the one place that chooses adapters)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from exchange.models import Decision, QueuedSubmission, SubmissionState
from exchange.queue.port import Delivery, SubmissionQueue
from exchange.repository.port import Repository
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase

SqliteFactory = Callable[[Path], SqliteDatabase]
#: Records receipts and queues the new submissions; for each, None when new, else the state stored.
ReceiveAndQueue = Callable[[Sequence[QueuedSubmission]], Awaitable[list[SubmissionState | None]]]
#: Records decisions and settles their deliveries (acknowledged, or dead-lettered with the reason a
#: conflict gives); returns the state of each submission after it.
DecideAndAck = Callable[
    [Sequence[Delivery], Sequence[Decision], Callable[[QueuedSubmission, SubmissionState], str]],
    Awaitable[list[SubmissionState]],
]


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

    def receive_and_queue(self) -> ReceiveAndQueue | None:
        """One transaction that records receipts and queues them, where both backends share an SQLite file.

        None otherwise: the gateway then records each receipt and publishes it in turn.
        """
        from exchange.queue.sqlite import SqliteQueue
        from exchange.repository.sqlite import SqliteRepository, receive_rows

        repository, queue = self.repository, self.queue
        if isinstance(repository, SqliteRepository) and isinstance(queue, SqliteQueue) and repository.db is queue.db:
            return lambda messages: queue.receive_and_publish(messages, receive_rows)
        return None

    def decide_and_ack(self) -> DecideAndAck | None:
        """One transaction that records decisions and settles their deliveries, where both share an SQLite file.

        None otherwise: the worker commits the decisions, then acknowledges the deliveries.
        """
        from exchange.queue.sqlite import SqliteQueue
        from exchange.repository.sqlite import SqliteRepository, decide_rows

        repository, queue = self.repository, self.queue
        if isinstance(repository, SqliteRepository) and isinstance(queue, SqliteQueue) and repository.db is queue.db:
            return lambda deliveries, decisions, conflict: queue.decide_and_ack(
                deliveries, decisions, decide_rows, conflict
            )
        return None

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
