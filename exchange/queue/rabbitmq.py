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
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from exchange import times
from exchange.errors import Unavailable
from exchange.models import QueuedSubmission
from exchange.queue.amqp_messages import (
    ATTEMPTS,
    DEAD_AT,
    DEAD_LETTER_ID,
    PRIOR_ATTEMPTS,
    REASON,
    RETRY_QUEUE,
    attempt_of,
    dead_letter_of,
    from_amqp,
    is_stale,
    to_amqp,
)
from exchange.queue.amqp_topology import BINDING_KEY, Topology, retry_step
from exchange.queue.port import DeadLetter, Delivery
from exchange.repository.common import redact
from exchange.settings import Settings

log = logging.getLogger("exchange.queue.rabbitmq")

CONNECT_TIMEOUT = 10.0
OPERATION_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 10.0
RECONNECT_INTERVAL = 1.0
#: Retry-After (seconds) suggested when the broker cannot take a message.
RETRY_AFTER = 5
#: What aio-pika and aiormq raise when the broker or the link to it fails.
_BROKER_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, TimeoutError)


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
        if is_stale(message):
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
            if not is_stale(message):
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
        return sorted((dead_letter_of(m) for m in held), key=lambda d: d.dead_at)

    async def _remove_dead(self, dead_letter_id: str, *, redrive: bool) -> bool:
        async with self._channel("changing dead letters") as channel:
            held = await self._take(await channel.get_queue(self.names.dead))
            target = next((m for m in held if dead_letter_of(m).id == dead_letter_id), None)
            if target is not None:
                if redrive:
                    message = dead_letter_of(target).message
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
