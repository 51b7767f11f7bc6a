"""The embedded queue: a table in the same SQLite file as the repository.

A message is durable once its INSERT has committed. ``fetch`` leases messages to one consumer for
``lease`` seconds; an acknowledged message is deleted, an unacknowledged one (its consumer died)
becomes visible again when its lease ends. Publishes from concurrent requests share one commit. Where
the repository lives in the same file, :class:`exchange.handover.SharedFileHandover` records receipts
and queues them (:func:`enqueue_rows`) in one transaction, and decisions and their settled deliveries
(:func:`settle_rows`) in one.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from exchange import times
from exchange.models import QueuedSubmission, SubmissionState
from exchange.queue.port import DeadLetter, Delivery
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase

MIGRATIONS: list[str] = [
    """
CREATE TABLE queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    participant TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    jws_sha256 TEXT NOT NULL,
    serialization TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    lease_token TEXT,
    last_error TEXT
);
CREATE INDEX queue_messages_ready ON queue_messages (available_at, id);
CREATE TABLE queue_dead_letters (
    id TEXT PRIMARY KEY,
    participant TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    jws_sha256 TEXT NOT NULL,
    serialization TEXT NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    dead_at TEXT NOT NULL
)
""",
]

_COLUMNS = "participant, submission_id, kind, received_at, jws_sha256, serialization, body"


def _message(row: Sequence[Any]) -> QueuedSubmission:
    return QueuedSubmission(row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]))


def _values(m: QueuedSubmission) -> tuple[Any, ...]:
    return (m.participant, m.submission_id, m.kind, m.received_at, m.jws_sha256, m.serialization, m.body)


def enqueue_rows(conn: sqlite3.Connection, messages: Sequence[QueuedSubmission], now: float) -> None:
    """Queue messages inside the caller's transaction (available from ``now``, a ``time.time()``)."""
    conn.executemany(
        f"INSERT INTO queue_messages ({_COLUMNS}, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(*_values(m), now) for m in messages],
    )


def _dead_letter(conn: sqlite3.Connection, delivery: Delivery, reason: str, dead_at: str) -> None:
    cur = conn.execute("DELETE FROM queue_messages WHERE id = ? AND lease_token = ?", delivery.tag)
    if cur.rowcount:
        conn.execute(
            f"INSERT INTO queue_dead_letters (id, {_COLUMNS}, reason, attempts, dead_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, *_values(delivery.message), reason, delivery.attempt, dead_at),
        )


def settle_rows(
    conn: sqlite3.Connection,
    deliveries: Sequence[Delivery],
    states: Sequence[SubmissionState],
    conflict: Callable[[QueuedSubmission, SubmissionState], str],
    dead_at: str,
) -> None:
    """Settle decided deliveries inside the caller's transaction: acknowledge each, except one whose
    submission id holds other bytes (its state has another ``jws_sha256``), dead-lettered with ``conflict``'s
    reason."""
    settled = list(zip(deliveries, states, strict=True))
    conn.executemany(
        "DELETE FROM queue_messages WHERE id = ? AND lease_token = ?",
        [d.tag for d, s in settled if s.jws_sha256 == d.message.jws_sha256],
    )
    for delivery, state in settled:
        if state.jws_sha256 != delivery.message.jws_sha256:
            _dead_letter(conn, delivery, conflict(delivery.message, state), dead_at)


class SqliteQueue:
    """The :class:`exchange.queue.SubmissionQueue` port inside the embedded database."""

    def __init__(self, db: SqliteDatabase, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.lease = settings.queue_lease_seconds
        self._wakeup = asyncio.Event()

    async def open(self) -> None:
        await self.db.open("queue", MIGRATIONS)

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.read(lambda c: c.execute("SELECT 1 FROM queue_messages LIMIT 1").fetchall())

    async def publish(self, messages: Sequence[QueuedSubmission]) -> None:
        """Concurrent publishes share one commit: the database groups its writes."""
        now = time.time()
        await self.db.write(lambda conn: enqueue_rows(conn, messages, now))
        self._wakeup.set()

    def wake(self) -> None:
        """Tell a waiting :meth:`fetch` that messages were queued (by a transaction of another part)."""
        self._wakeup.set()

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        poll = self.settings.worker_poll_interval
        while True:
            self._wakeup.clear()
            deliveries = await self._lease(max_messages)
            remaining = deadline - time.monotonic()
            if deliveries or remaining <= 0:
                return deliveries
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=min(poll, remaining))

    async def _lease(self, max_messages: int) -> list[Delivery]:
        now = time.time()
        token = uuid.uuid4().hex

        def run(conn: sqlite3.Connection) -> list[Delivery]:
            rows = conn.execute(
                f"SELECT id, attempts, {_COLUMNS} FROM queue_messages WHERE available_at <= ? "
                "ORDER BY available_at, id LIMIT ?",
                (now, max_messages),
            ).fetchall()
            if not rows:
                return []
            conn.executemany(
                "UPDATE queue_messages SET attempts = attempts + 1, available_at = ?, lease_token = ? WHERE id = ?",
                [(now + self.lease, token, r[0]) for r in rows],
            )
            return [Delivery(_message(r[2:]), r[1] + 1, (r[0], token)) for r in rows]

        return await self.db.write(run)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        await self.db.write(
            lambda c: c.executemany(
                "DELETE FROM queue_messages WHERE id = ? AND lease_token = ?", [d.tag for d in deliveries]
            )
        )

    async def retry(self, delivery: Delivery, reason: str, delay: float) -> None:
        await self.db.write(
            lambda c: c.execute(
                "UPDATE queue_messages SET available_at = ?, lease_token = NULL, last_error = ? "
                "WHERE id = ? AND lease_token = ?",
                (time.time() + delay, reason, *delivery.tag),
            )
        )

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        dead_at = times.iso(times.now())
        await self.db.write(lambda conn: _dead_letter(conn, delivery, reason, dead_at))

    async def depth(self) -> int:
        row = await self.db.read(lambda c: c.execute("SELECT count(*) FROM queue_messages").fetchone())
        return int(row[0])

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT id, {_COLUMNS}, reason, attempts, dead_at FROM queue_dead_letters ORDER BY dead_at LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [DeadLetter(r[0], _message(r[1:8]), r[8], r[9], r[10]) for r in rows]

    async def redrive(self, dead_letter_id: str) -> bool:
        now = time.time()

        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute(f"SELECT {_COLUMNS} FROM queue_dead_letters WHERE id = ?", (dead_letter_id,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM queue_dead_letters WHERE id = ?", (dead_letter_id,))
            conn.execute(
                f"INSERT INTO queue_messages ({_COLUMNS}, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, now),
            )
            return True

        moved = await self.db.write(run)
        if moved:
            self._wakeup.set()
        return moved

    async def drop(self, dead_letter_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM queue_dead_letters WHERE id = ?", (dead_letter_id,)).rowcount > 0

        return await self.db.write(run)
