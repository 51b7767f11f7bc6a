"""The queue port: durable hand-over of received submissions to the workers.

``publish`` returns only once the message is durable (committed, or confirmed by the broker).
Consumers ``fetch`` deliveries, then ``ack`` each after its outcome is committed, ``retry`` it after a
transient fault, or ``dead_letter`` it. A delivery not acknowledged (the worker died) comes back.
The contract suite ``tests/contract/test_queue.py`` runs against every adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from exchange.models import QueuedSubmission


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivered message; ``attempt`` counts deliveries, starting at 1."""

    message: QueuedSubmission
    attempt: int
    tag: Any


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    message: QueuedSubmission
    reason: str
    attempts: int
    dead_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "participant": self.message.participant,
            "submission_id": self.message.submission_id,
            "kind": self.message.kind,
            "received_at": self.message.received_at,
            "jws_sha256": self.message.jws_sha256,
            "reason": self.reason,
            "attempts": self.attempts,
            "dead_at": self.dead_at,
        }


class SubmissionQueue(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None:
        """Raise :class:`exchange.errors.Unavailable` unless the queue answers."""

    async def publish(self, messages: Sequence[QueuedSubmission]) -> None:
        """Make the messages durable; raise ``Unavailable`` if that cannot be promised."""

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, waiting at most ``timeout`` seconds for the first."""

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Settle deliveries whose outcome is committed. An ack that can no longer be made (the lease ran
        out, the channel closed) is a no-op: the message is delivered again, and the idempotent
        outcome makes that harmless (delivery is at least once)."""

    async def retry(self, delivery: Delivery, reason: str, delay: float) -> None: ...
    async def dead_letter(self, delivery: Delivery, reason: str) -> None: ...
    async def depth(self) -> int: ...
    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...
    async def redrive(self, dead_letter_id: str) -> bool: ...
    async def drop(self, dead_letter_id: str) -> bool: ...
