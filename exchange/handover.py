"""The hand-over between the repository and the queue: a receipt becomes queued, a decision settles its delivery.

Both ends of a submission's trip cross the two backends. The gateway records a receipt and queues the
submission (a ``202`` only once both are durable); the worker records decisions and then settles their
deliveries (acknowledged, or dead-lettered when the submission id already holds other bytes). How
atomic that can be depends on where the backends live, so the :class:`Handover` port names it once and
:meth:`exchange.backends.Backends.handover` chooses the implementation:

* :class:`SharedFileHandover`: the embedded repository and queue share one SQLite file, and each step
  is one transaction: nothing is queued without its receipt, nothing acknowledged undecided.
* :class:`SeparateHandover`: any other pair: commit to the repository, then publish or acknowledge.
  A crash in between leaves a receipt not yet queued (the client re-sends; the gateway publishes it
  again) or a decision not yet acknowledged (delivered again; deciding is idempotent).

Concurrent receipts share one commit (group commit, :class:`exchange.batching.Batcher`) in both.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from exchange import times
from exchange.batching import Batcher
from exchange.models import Decision, QueuedSubmission, SubmissionState
from exchange.queue.port import Delivery, SubmissionQueue
from exchange.queue.sqlite import SqliteQueue, enqueue_rows, settle_rows
from exchange.repository.port import Submissions
from exchange.repository.sqlite import SqliteRepository
from exchange.repository.sqlite.decisions import decide_rows, receive_rows

#: Why a delivery whose submission id already holds other bytes is refused (its dead letter's reason).
ConflictReason = Callable[[QueuedSubmission, SubmissionState], str]


class Handover(Protocol):
    async def receive(self, messages: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
        """Record receipts and queue the new submissions: durable, both, on return.

        For each message, None when it is new (now recorded and queued), else the state already stored
        (nothing queued). Raises :class:`exchange.errors.Unavailable` when a backend cannot be reached.
        """

    async def settle(
        self, deliveries: Sequence[Delivery], decisions: Sequence[Decision], conflict_reason: ConflictReason
    ) -> list[SubmissionState]:
        """Record the decisions (one per delivery, in order), then settle their deliveries.

        Each delivery is acknowledged, except one whose submission id already holds other bytes (its
        returned state has another ``jws_sha256``): that one is dead-lettered with ``conflict_reason``.
        Returns the state of each submission after it.
        """


async def _each(
    batcher: Batcher[QueuedSubmission, SubmissionState | None], messages: Sequence[QueuedSubmission]
) -> list[SubmissionState | None]:
    if len(messages) == 1:
        return [await batcher.submit(messages[0])]
    return list(await asyncio.gather(*(batcher.submit(m) for m in messages)))


class SeparateHandover:
    """A repository and a queue apart: commit, then publish (receipts) or acknowledge (decisions)."""

    def __init__(self, repository: Submissions, queue: SubmissionQueue) -> None:
        self.repository = repository
        self.queue = queue
        self._receipts: Batcher[QueuedSubmission, SubmissionState | None] = Batcher(repository.receive)

    async def receive(self, messages: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
        prior = await _each(self._receipts, messages)
        new = [m for m, p in zip(messages, prior, strict=True) if p is None]
        if new:
            await self.queue.publish(new)
        return prior

    async def settle(
        self, deliveries: Sequence[Delivery], decisions: Sequence[Decision], conflict_reason: ConflictReason
    ) -> list[SubmissionState]:
        states = await self.repository.decide(decisions)
        settled = list(zip(deliveries, states, strict=True))
        await self.queue.ack([d for d, s in settled if s.jws_sha256 == d.message.jws_sha256])
        for delivery, state in settled:
            if state.jws_sha256 != delivery.message.jws_sha256:
                await self.queue.dead_letter(delivery, conflict_reason(delivery.message, state))
        return states


class SharedFileHandover:
    """The embedded repository and queue in one SQLite file: each hand-over is one transaction."""

    def __init__(self, repository: SqliteRepository, queue: SqliteQueue) -> None:
        if repository.db is not queue.db:
            raise ValueError("the repository and the queue must share one database object")
        self.db = queue.db
        self.queue = queue
        self._receipts: Batcher[QueuedSubmission, SubmissionState | None] = Batcher(self._receive)

    async def receive(self, messages: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
        return await _each(self._receipts, messages)

    async def _receive(self, messages: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
        """A submission is durable, both as received and as queued, with a single commit."""
        now = time.time()

        def run(conn: sqlite3.Connection) -> list[SubmissionState | None]:
            prior = receive_rows(conn, messages)
            enqueue_rows(conn, [m for m, p in zip(messages, prior, strict=True) if p is None], now)
            return prior

        states = await self.db.write(run)
        self.queue.wake()
        return states

    async def settle(
        self, deliveries: Sequence[Delivery], decisions: Sequence[Decision], conflict_reason: ConflictReason
    ) -> list[SubmissionState]:
        """Nothing decided can come back from the queue, and nothing is acknowledged undecided."""
        dead_at = times.iso(times.now())

        def run(conn: sqlite3.Connection) -> list[SubmissionState]:
            states = decide_rows(conn, decisions)
            settle_rows(conn, deliveries, states, conflict_reason, dead_at)
            return states

        return await self.db.write(run)
