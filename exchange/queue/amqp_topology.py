"""The RabbitMQ topology of the scale-out queue: names, arguments and the retry ladder.

See :mod:`exchange.queue.rabbitmq` for what each exchange and queue is for.
"""

from __future__ import annotations

from typing import Any

import aio_pika

#: Delay steps of the retry queues, in milliseconds (a 1-2-5 series from 0.1 s to one hour).
RETRY_LADDER_MS: tuple[int, ...] = (
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    3_600_000,
)
BINDING_KEY = "submission.#"


class Topology:
    """The names of one deployment's exchanges and queues."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.submissions = f"{prefix}.submissions"
        self.validate = f"{prefix}.validate"
        self.dlx = f"{prefix}.dlx"
        self.dead = f"{prefix}.dead"
        self.retry = f"{prefix}.retry"

    def retry_queue(self, delay_ms: int) -> str:
        return f"{self.prefix}.retry.{delay_ms}"

    @property
    def queues(self) -> list[str]:
        return [self.validate, self.dead, *(self.retry_queue(ms) for ms in RETRY_LADDER_MS)]

    @property
    def exchanges(self) -> list[str]:
        return [self.submissions, self.dlx, self.retry]

    def validate_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dlx,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def retry_arguments(self, delay_ms: int) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": self.submissions,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }


def retry_step(delay: float) -> int:
    """The ladder step (ms) for a delay in seconds: the shortest not below it, at most the longest."""
    wanted = max(0.0, delay) * 1000
    return next((ms for ms in RETRY_LADDER_MS if ms >= wanted), RETRY_LADDER_MS[-1])


async def delete_topology(connection: aio_pika.abc.AbstractConnection, prefix: str) -> None:
    """Delete the exchanges and queues of ``prefix`` (tests and decommissioning) on an open connection."""
    names = Topology(prefix)
    channel = await connection.channel(publisher_confirms=False)
    try:
        for queue in names.queues:
            await channel.queue_delete(queue)
        for exchange in names.exchanges:
            await channel.exchange_delete(exchange)
    finally:
        await channel.close()


# ---- messages -----------------------------------------------------------------------------------------
