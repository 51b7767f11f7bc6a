"""The scale-out queue: RabbitMQ through aio-pika (robust connection, publisher confirms).

Topology, declared idempotently by :meth:`RabbitQueue.open` (``P`` is ``settings.amqp_prefix``):

* ``P.submissions``: durable topic exchange; messages are routed by ``submission.<kind>.<participant>``;
* ``P.validate``: durable quorum queue bound with ``submission.#``: the validation workers' queue;
* ``P.dlx`` and ``P.dead``: the dead-letter topic exchange and its quorum queue (bound with ``#``);
  ``P.validate`` dead-letters there too (a message the adapter cannot even read is rejected to it);
* ``P.retry`` and ``P.retry.<ms>``: delayed retry without plugins. ``retry()`` publishes a copy to the
  headers exchange ``P.retry``, which routes it (header ``retry_queue``) to the quorum queue for the
  smallest step of :data:`RETRY_LADDER_MS` not shorter than the delay. That queue has no consumer: its
  ``x-message-ttl`` expires the copy, which is dead-lettered (at least once) back to ``P.submissions``
  with its original routing key.

A message is the raw JWS bytes with the metadata in headers, persistent, ``message_id`` = submission id.
``Delivery.attempt`` = 1 + the quorum queue's ``x-delivery-count`` (redeliveries after a consumer died or
a requeue) + the ``prior_attempts`` header that ``retry()`` carries across retry queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
    FieldValue,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from exchange import times
from exchange.errors import Unavailable
from exchange.identifiers import MEDIA_TYPES
from exchange.models import QueuedSubmission
from exchange.queue.port import DeadLetter, Delivery
from exchange.repository.common import redact
from exchange.settings import Settings

log = logging.getLogger("exchange.queue.rabbitmq")

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
CONNECT_TIMEOUT = 10.0
OPERATION_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 10.0
RECONNECT_INTERVAL = 1.0
#: Retry-After (seconds) suggested when the broker cannot take a message.
RETRY_AFTER = 5

# Message headers.
PRIOR_ATTEMPTS = "prior_attempts"
REASON = "reason"
RETRY_QUEUE = "retry_queue"
DEAD_LETTER_ID = "dead_letter_id"
DEAD_AT = "dead_at"
ATTEMPTS = "attempts"
DELIVERY_COUNT = "x-delivery-count"

#: What aio-pika and aiormq raise when the broker or the link to it fails.
_BROKER_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, TimeoutError)


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


def _headers(message: QueuedSubmission, extra: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
    return {
        "participant": message.participant,
        "submission_id": message.submission_id,
        "kind": message.kind,
        "received_at": message.received_at,
        "jws_sha256": message.jws_sha256,
        "serialization": message.serialization,
        **extra,
    }


def to_amqp(message: QueuedSubmission, extra: Mapping[str, FieldValue] | None = None) -> aio_pika.Message:
    """The AMQP message for a submission: its exact bytes, metadata in headers, persistent."""
    return aio_pika.Message(
        message.body,
        headers=_headers(message, extra or {}),
        content_type=MEDIA_TYPES.get(message.serialization),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.submission_id,
        type="submission",
    )


def _text(headers: Mapping[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _count(headers: Mapping[str, Any], name: str) -> int:
    value = headers.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        text = _text(headers, name)
        return int(text) if text is not None and text.isdigit() else 0
    return max(0, value)


def from_amqp(message: AbstractIncomingMessage) -> QueuedSubmission | None:
    """The submission an AMQP message carries, or None when its metadata is missing or malformed."""
    headers = message.headers or {}
    fields = [_text(headers, n) for n in ("participant", "submission_id", "kind", "received_at", "jws_sha256")]
    serialization = _text(headers, "serialization")
    if any(not f for f in fields) or serialization not in MEDIA_TYPES:
        return None
    participant, submission_id, kind, received_at, jws_sha256 = cast(list[str], fields)
    return QueuedSubmission(
        participant,
        submission_id,
        kind,
        received_at,
        jws_sha256,
        serialization,
        bytes(message.body),
    )


def attempt_of(message: AbstractIncomingMessage) -> int:
    headers = message.headers or {}
    return 1 + _count(headers, DELIVERY_COUNT) + _count(headers, PRIOR_ATTEMPTS)


def _dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    """A dead-letter queue entry: ours carry id, reason, attempts and time; the broker's carry x-death."""
    headers = message.headers or {}
    submission = from_amqp(message) or QueuedSubmission(
        _text(headers, "participant") or "",
        _text(headers, "submission_id") or message.message_id or "",
        _text(headers, "kind") or "",
        _text(headers, "received_at") or "",
        _text(headers, "jws_sha256") or "",
        "flattened",
        bytes(message.body),
    )
    ident = _text(headers, DEAD_LETTER_ID) or "broker-" + (
        message.message_id or hashlib.sha256(bytes(message.body)).hexdigest()
    )
    reason = _text(headers, REASON) or f"rejected by the broker: {_text(headers, 'x-first-death-reason') or 'unknown'}"
    dead_at = _text(headers, DEAD_AT) or _death_time(headers)
    attempts = _count(headers, ATTEMPTS) or 1 + _count(headers, PRIOR_ATTEMPTS)
    return DeadLetter(ident, submission, reason, attempts, dead_at)


def _death_time(headers: Mapping[str, Any]) -> str:
    """When the broker dead-lettered a message (its latest ``x-death`` record), or "" if unknown."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        moment = deaths[0].get("time")
        if isinstance(moment, datetime):
            return times.iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return ""


def _stale(message: AbstractIncomingMessage) -> bool:
    """True when the channel that delivered ``message`` is gone (the broker has requeued it)."""
    try:
        return bool(message.channel.is_closed)
    except aiormq.exceptions.ChannelInvalidStateError:
        return True


# ---- the adapter --------------------------------------------------------------------------------------


class RabbitQueue:
    """The :class:`exchange.queue.SubmissionQueue` port on RabbitMQ."""

    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url
        self.settings = settings
        self.names = Topology(settings.amqp_prefix)
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._consumer: AbstractRobustChannel | None = None
        self._consumer_lock = asyncio.Lock()
        self._retry_lock = asyncio.Lock()
        self._retry_queues: set[int] = set()
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    @property
    def url(self) -> str:
        """The broker URL with its password hidden: safe to log."""
        return redact(self._url)

    # lifecycle ------------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._connection is not None:
            return
        try:
            connection = await aio_pika.connect_robust(
                self._url,
                timeout=CONNECT_TIMEOUT,
                reconnect_interval=RECONNECT_INTERVAL,
                client_properties={"connection_name": f"exchange {self.names.prefix}"},
            )
        except _BROKER_ERRORS as exc:
            raise Unavailable(
                f"cannot connect to RabbitMQ at {self.url}: {_describe(exc)}", retry_after=RETRY_AFTER
            ) from None
        try:
            async with _broker(self.url, "declaring the topology"):
                publisher = connection.channel(publisher_confirms=True, on_return_raises=True)
                await publisher.initialize(timeout=OPERATION_TIMEOUT)
                await self._declare(publisher)
        except BaseException:
            with contextlib.suppress(*_BROKER_ERRORS):
                await connection.close()
            raise
        self._connection, self._publisher = connection, publisher

    async def _declare(self, channel: AbstractRobustChannel) -> None:
        names = self.names
        topic = aio_pika.ExchangeType.TOPIC
        self._exchanges = {
            names.submissions: await channel.declare_exchange(names.submissions, topic, durable=True),
            names.dlx: await channel.declare_exchange(names.dlx, topic, durable=True),
            names.retry: await channel.declare_exchange(names.retry, aio_pika.ExchangeType.HEADERS, durable=True),
        }
        validate = await channel.declare_queue(names.validate, durable=True, arguments=names.validate_arguments())
        await validate.bind(names.submissions, BINDING_KEY)
        dead = await channel.declare_queue(names.dead, durable=True, arguments={"x-queue-type": "quorum"})
        await dead.bind(names.dlx, "#")

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        channels = [c for c in (self._consumer, self._publisher) if c is not None]
        self._publisher = self._consumer = None
        self._exchanges = {}
        self._retry_queues = set()
        self._buffer = asyncio.Queue()  # unacknowledged deliveries go back to the broker with the connection
        if connection is None:
            return
        with contextlib.suppress(*_BROKER_ERRORS):
            for channel in channels:  # channels first: a robust channel must not try to recover
                await asyncio.wait_for(channel.close(), OPERATION_TIMEOUT)
        with contextlib.suppress(*_BROKER_ERRORS):
            await asyncio.wait_for(connection.close(), OPERATION_TIMEOUT)

    def _connected(self) -> AbstractRobustConnection:
        connection = self._connection
        if connection is None or connection.is_closed:
            raise Unavailable("the RabbitMQ queue is not open", retry_after=RETRY_AFTER)
        if not connection.connected.is_set():
            raise Unavailable(f"RabbitMQ at {self.url} is unreachable; reconnecting", retry_after=RETRY_AFTER)
        return connection

    async def ping(self) -> None:
        self._connected()

    # publishing -----------------------------------------------------------------------------------

    async def _publish(self, exchange: str, messages: Sequence[tuple[aio_pika.Message, str]], action: str) -> None:
        """Publish (mandatory) and wait until the broker confirms every message; else raise Unavailable."""
        self._connected()
        target = self._exchanges[exchange]
        async with _broker(self.url, action, PUBLISH_TIMEOUT):
            results = await asyncio.gather(
                *(target.publish(message, routing_key=key, mandatory=True) for message, key in messages),
                return_exceptions=True,
            )
        failures = [r for r in results if not isinstance(r, aiormq.spec.Basic.Ack)]
        if failures:
            first = failures[0]
            detail = _describe(first) if isinstance(first, BaseException) else "the broker did not confirm it"
            raise Unavailable(
                f"RabbitMQ did not accept {len(failures)} of {len(messages)} messages while {action}: {detail}",
                retry_after=RETRY_AFTER,
            )

    async def publish(self, messages: Sequence[QueuedSubmission]) -> None:
        if not messages:
            return
        await self._publish(
            self.names.submissions, [(to_amqp(m), m.routing_key) for m in messages], "publishing submissions"
        )

    # consuming ------------------------------------------------------------------------------------

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._buffer.put_nowait(message)

    async def _start_consumer(self) -> None:
        """Consume the validate queue (prefetch bounded) into the buffer, once, on the first fetch."""
        if self._consumer is not None:
            return
        async with self._consumer_lock:
            if self._consumer is not None:
                return
            channel = self._connected().channel(publisher_confirms=False)
            try:
                async with _broker(self.url, "starting the consumer"):
                    await channel.initialize(timeout=OPERATION_TIMEOUT)
                    await channel.set_qos(prefetch_count=self.settings.amqp_prefetch)
                    queue = await channel.declare_queue(
                        self.names.validate, durable=True, arguments=self.names.validate_arguments()
                    )
                    await queue.consume(self._on_message, no_ack=False)
            except BaseException:
                with contextlib.suppress(*_BROKER_ERRORS):
                    await channel.close()
                raise
            self._consumer = channel

    async def fetch(self, max_messages: int, timeout: float) -> list[Delivery]:
        self._connected()  # while the link is down, say so (the consumer resumes by itself on reconnection)
        await self._start_consumer()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        deliveries: list[Delivery] = []
        while len(deliveries) < max_messages:
            if self._buffer.empty():
                remaining = deadline - loop.time()
                if deliveries or remaining <= 0:
                    break
                try:
                    message = await asyncio.wait_for(self._buffer.get(), remaining)
                except TimeoutError:
                    break
            else:
                message = self._buffer.get_nowait()
            delivery = await self._delivery(message)
            if delivery is not None:
                deliveries.append(delivery)
        return deliveries

    async def _delivery(self, message: AbstractIncomingMessage) -> Delivery | None:
        if _stale(message):
            return None
        submission = from_amqp(message)
        if submission is None:
            log.warning(
                "rejecting a message without submission metadata to the dead-letter queue",
                extra={"message_id": message.message_id},
            )
            await self._settle(message.reject(requeue=False))
            return None
        return Delivery(submission, attempt_of(message), message)

    async def _settle(self, operation: Awaitable[None]) -> None:
        """Acknowledge or reject; a delivery whose channel is gone was already requeued by the broker."""
        try:
            await operation
        except _BROKER_ERRORS as exc:
            log.warning("could not settle a delivery; the broker will redeliver it", extra={"reason": _describe(exc)})

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            message = cast(AbstractIncomingMessage, delivery.tag)
            if not _stale(message):
                await self._settle(message.ack())

    async def _retry_queue(self, delay_ms: int) -> str:
        """Declare (once per connection) the retry queue of one ladder step and bind it."""
        name = self.names.retry_queue(delay_ms)
        if delay_ms in self._retry_queues:
            return name
        async with self._retry_lock:
            if delay_ms not in self._retry_queues:
                channel = self._publisher
                if channel is None:
                    raise Unavailable("the RabbitMQ queue is not open", retry_after=RETRY_AFTER)
                async with _broker(self.url, "declaring a retry queue"):
                    queue = await channel.declare_queue(
                        name, durable=True, arguments=self.names.retry_arguments(delay_ms)
                    )
                    await queue.bind(self.names.retry, "", arguments={"x-match": "all", RETRY_QUEUE: name})
                self._retry_queues.add(delay_ms)
        return name

    async def retry(self, delivery: Delivery, reason: str, delay: float) -> None:
        queue = await self._retry_queue(retry_step(delay))
        copy = to_amqp(delivery.message, {PRIOR_ATTEMPTS: delivery.attempt, REASON: reason, RETRY_QUEUE: queue})
        await self._publish(self.names.retry, [(copy, delivery.message.routing_key)], "scheduling a retry")
        await self.ack([delivery])

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        dead = to_amqp(
            delivery.message,
            {
                DEAD_LETTER_ID: uuid.uuid4().hex,
                REASON: reason,
                ATTEMPTS: delivery.attempt,
                DEAD_AT: times.iso(times.now()),
            },
        )
        await self._publish(self.names.dlx, [(dead, delivery.message.routing_key)], "dead-lettering")
        await self.ack([delivery])

    # inspection and dead letters ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _channel(self, action: str) -> AsyncIterator[AbstractChannel]:
        """A short-lived channel: whatever it leaves unacknowledged goes back to its queue when it closes."""
        connection = self._connected()
        async with _broker(self.url, action):
            channel: AbstractChannel = connection.channel(publisher_confirms=False)
            await channel.initialize(timeout=OPERATION_TIMEOUT)
            try:
                yield channel
            finally:
                with contextlib.suppress(*_BROKER_ERRORS):
                    await channel.close()

    async def depth(self) -> int:
        async with self._channel("reading the queue depth") as channel:
            queue = await channel.get_queue(self.names.validate)
            return int(queue.declaration_result.message_count or 0)

    async def _take(self, queue: AbstractQueue, limit: int | None = None) -> list[AbstractIncomingMessage]:
        """basic.get every message (up to ``limit``) without acknowledging: the caller settles them."""
        held: list[AbstractIncomingMessage] = []
        while limit is None or len(held) < limit:
            message = await queue.get(no_ack=False, fail=False, timeout=OPERATION_TIMEOUT)
            if message is None:
                break
            held.append(message)
        return held

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self._channel("listing dead letters") as channel:
            held = await self._take(await channel.get_queue(self.names.dead), limit)
            if held:
                await held[-1].nack(multiple=True, requeue=True)
        return sorted((_dead_letter(m) for m in held), key=lambda d: d.dead_at)

    async def _remove_dead(self, dead_letter_id: str, *, redrive: bool) -> bool:
        async with self._channel("changing dead letters") as channel:
            held = await self._take(await channel.get_queue(self.names.dead))
            target = next((m for m in held if _dead_letter(m).id == dead_letter_id), None)
            if target is not None:
                if redrive:
                    message = _dead_letter(target).message
                    await self._publish(
                        self.names.submissions, [(to_amqp(message), message.routing_key)], "redriving a dead letter"
                    )
                await target.ack()
            others = [m for m in held if m is not target]
            if others:
                await others[-1].nack(multiple=True, requeue=True)
        return target is not None

    async def redrive(self, dead_letter_id: str) -> bool:
        return await self._remove_dead(dead_letter_id, redrive=True)

    async def drop(self, dead_letter_id: str) -> bool:
        return await self._remove_dead(dead_letter_id, redrive=False)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.asynccontextmanager
async def _broker(url: str, action: str, timeout: float = OPERATION_TIMEOUT) -> AsyncIterator[None]:
    """Bound a broker operation in time; turn its failures into :class:`Unavailable`."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise Unavailable(
            f"RabbitMQ at {url} did not answer within {timeout:g} s while {action}", retry_after=RETRY_AFTER
        ) from None
    except _BROKER_ERRORS as exc:
        raise Unavailable(
            f"RabbitMQ at {url} failed while {action}: {_describe(exc)}", retry_after=RETRY_AFTER
        ) from None


__all__ = ["RETRY_LADDER_MS", "RabbitQueue", "Topology", "delete_topology", "retry_step"]
