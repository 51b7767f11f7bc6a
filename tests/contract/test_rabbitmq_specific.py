"""RabbitMQ queue behaviour beyond the shared contract: topology, message format, failures, reconnection."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractConnection

from exchange.errors import Unavailable
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.queue.amqp_topology import RETRY_LADDER_MS, Topology, retry_step
from exchange.queue.rabbitmq import RabbitQueue
from exchange.repository.common import redact
from exchange.settings import Settings
from tests.contract.test_queue import message
from tests.support import AMQP_URL, make_settings, unavailable

pytestmark = pytest.mark.services


@pytest.fixture
def settings(tmp_path: Path, amqp_prefix: str) -> Settings:
    return make_settings(tmp_path, queue_url=AMQP_URL, amqp_prefix=amqp_prefix)


@pytest.fixture
async def rabbit(settings: Settings) -> AsyncIterator[RabbitQueue]:
    queue = RabbitQueue(AMQP_URL, settings)
    await queue.open()
    yield queue
    await queue.close()


@pytest.fixture
async def broker() -> AsyncIterator[AbstractConnection]:
    """A plain connection for looking at the broker from outside the adapter."""
    connection = await aio_pika.connect(AMQP_URL)
    yield connection
    await connection.close()


async def test_topology_is_declared_idempotently(settings: Settings, broker: AbstractConnection) -> None:
    queues = [RabbitQueue(AMQP_URL, settings) for _ in range(3)]
    await asyncio.gather(*(q.open() for q in queues))  # processes starting at once
    await asyncio.gather(*(q.close() for q in queues))
    names = Topology(settings.amqp_prefix)
    channel = await broker.channel()
    for exchange in (names.submissions, names.dlx, names.retry):
        await channel.get_exchange(exchange)
    for queue in (names.validate, names.dead):
        await channel.get_queue(queue)
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):  # it is a quorum queue, not a classic one
        await channel.declare_queue(names.validate, durable=True)


async def test_message_carries_raw_bytes_and_metadata(rabbit: RabbitQueue, broker: AbstractConnection) -> None:
    sent = message(body=b"\x00raw jws bytes\xff")
    await rabbit.publish([sent])
    channel = await broker.channel()
    queue = await channel.get_queue(rabbit.names.validate)
    got = None
    for _ in range(50):
        got = await queue.get(no_ack=False, fail=False)
        if got is not None:
            break
        await asyncio.sleep(0.1)
    assert got is not None
    assert got.body == sent.body
    assert got.message_id == sent.submission_id
    assert got.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert got.routing_key == "submission.law.EST"
    assert got.content_type == FLATTENED_MEDIA_TYPE
    assert {k: got.headers[k] for k in ("participant", "submission_id", "kind", "received_at", "jws_sha256")} == {
        "participant": sent.participant,
        "submission_id": sent.submission_id,
        "kind": sent.kind,
        "received_at": sent.received_at,
        "jws_sha256": sent.jws_sha256,
    }
    await got.ack()


async def test_unroutable_publish_is_unavailable(rabbit: RabbitQueue, broker: AbstractConnection) -> None:
    channel = await broker.channel()
    queue = await channel.get_queue(rabbit.names.validate)
    await queue.unbind(rabbit.names.submissions, "submission.#")
    with pytest.raises(Unavailable) as err:
        await rabbit.publish([message()])
    assert err.value.headers["Retry-After"]


def _rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl; absent, it is an unavailable service; present but failing, the test fails."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        unavailable("rabbitmqctl (to set a max-length policy)", "not on PATH")
    done = subprocess.run([ctl, "-q", *args], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stderr.decode(errors='replace')}"


async def test_nacked_publish_is_unavailable(rabbit: RabbitQueue) -> None:
    """A full queue (``x-overflow: reject-publish``) nacks: the publisher must not report success."""
    policy = f"{rabbit.names.prefix}-full"
    pattern = f"^{rabbit.names.validate.replace('.', '[.]')}$"
    await asyncio.to_thread(_rabbitmqctl, "set_policy", "--apply-to", "queues", policy, pattern, '{"max-length": 0}')
    try:
        refused: Unavailable | None = None
        for _ in range(50):  # the policy takes effect shortly after it is set
            try:
                await rabbit.publish([message()])
            except Unavailable as exc:
                refused = exc
                break
            await asyncio.sleep(0.1)
        assert refused is not None, "a publish to a full queue was confirmed"
        assert "did not accept" in refused.detail
    finally:
        await asyncio.to_thread(_rabbitmqctl, "clear_policy", policy)


async def test_unreachable_broker_is_unavailable_without_the_password(tmp_path: Path) -> None:
    url = "amqp://guest:s3cret-pw@127.0.0.1:1/"
    queue = RabbitQueue(url, make_settings(tmp_path, queue_url=url))
    with pytest.raises(Unavailable) as err:
        await queue.open()
    assert "s3cret-pw" not in err.value.detail
    assert "guest:***@127.0.0.1:1" in err.value.detail
    with pytest.raises(Unavailable):
        await queue.ping()
    with pytest.raises(Unavailable):
        await queue.publish([message()])


async def test_closed_queue_is_unavailable(rabbit: RabbitQueue) -> None:
    await rabbit.ping()
    await rabbit.close()
    with pytest.raises(Unavailable):
        await rabbit.ping()
    with pytest.raises(Unavailable):
        await rabbit.publish([message()])
    with pytest.raises(Unavailable):
        await rabbit.fetch(1, timeout=0.1)
    await rabbit.open()
    await rabbit.ping()


async def test_consumer_resumes_after_the_link_drops(rabbit: RabbitQueue) -> None:
    first = message()
    await rabbit.publish([first])
    [held] = await rabbit.fetch(10, timeout=5)
    connection = rabbit._connection
    assert connection is not None and connection.transport is not None
    await connection.transport.connection.close(ConnectionResetError("simulated link loss"))
    for _ in range(100):
        try:
            await rabbit.ping()
            break
        except Unavailable:
            await asyncio.sleep(0.1)
    await rabbit.ack([held])  # its channel is gone: the broker already took it back; this must not raise
    second = message()
    await rabbit.publish([second])
    seen: list[tuple[str, int]] = []
    for _ in range(40):
        batch = await rabbit.fetch(10, timeout=0.5)
        await rabbit.ack(batch)
        seen += [(d.message.submission_id, d.attempt) for d in batch]
        if len(seen) >= 2:
            break
    assert seen == [(first.submission_id, 2), (second.submission_id, 1)]


async def test_attempts_add_up_across_retries_and_redeliveries(rabbit: RabbitQueue, settings: Settings) -> None:
    sent = message()
    await rabbit.publish([sent])
    attempts = []
    for _ in range(3):
        deliveries: list = []
        for _ in range(20):
            deliveries = await rabbit.fetch(10, timeout=0.5)
            if deliveries:
                break
        [delivery] = deliveries
        attempts.append(delivery.attempt)
        await rabbit.retry(delivery, "database unavailable", delay=0.05)
    [delivery] = await rabbit.fetch(10, timeout=5)
    attempts.append(delivery.attempt)
    await rabbit.close()  # dies without acknowledging
    other = RabbitQueue(AMQP_URL, settings)
    await other.open()
    try:
        [again] = await other.fetch(10, timeout=5)
        attempts.append(again.attempt)
        await other.dead_letter(again, "gave up")
        dead: list = []
        for _ in range(20):
            dead = await other.list_dead_letters()
            if dead:
                break
            await asyncio.sleep(0.1)
        assert [d.attempts for d in dead] == [5]
    finally:
        await other.close()
    assert attempts == [1, 2, 3, 4, 5]


async def test_unreadable_message_goes_to_the_dead_letter_queue(
    rabbit: RabbitQueue, broker: AbstractConnection
) -> None:
    channel = await broker.channel()
    exchange = await channel.get_exchange(rabbit.names.submissions)
    await exchange.publish(aio_pika.Message(b"junk", message_id="m-1"), routing_key="submission.law.EST")
    assert await rabbit.fetch(10, timeout=1) == []
    dead: list = []
    for _ in range(30):
        dead = await rabbit.list_dead_letters()
        if dead:
            break
        await asyncio.sleep(0.1)
    [letter] = dead
    assert letter.id == "broker-m-1"
    assert "rejected" in letter.reason
    assert letter.message.body == b"junk"
    assert letter.attempts == 1
    assert letter.dead_at.endswith("Z")
    assert await rabbit.drop(letter.id)
    assert await rabbit.list_dead_letters() == []


async def test_listing_dead_letters_keeps_them(rabbit: RabbitQueue) -> None:
    await rabbit.publish([message() for _ in range(3)])
    deliveries: list = []
    for _ in range(20):
        deliveries += await rabbit.fetch(10, timeout=0.5)
        if len(deliveries) == 3:
            break
    for delivery in deliveries:
        await rabbit.dead_letter(delivery, "poison")
    for _ in range(5):
        assert len(await rabbit.list_dead_letters()) == 3
    assert len(await rabbit.list_dead_letters(limit=2)) == 2
    assert await rabbit.depth() == 0


def test_retry_delays_round_up_to_the_ladder() -> None:
    assert retry_step(0) == RETRY_LADDER_MS[0]
    assert retry_step(0.6) == 1_000
    assert retry_step(2.0) == 2_000
    assert retry_step(4.0) == 5_000
    assert retry_step(10**9) == RETRY_LADDER_MS[-1]


def test_redact_hides_passwords() -> None:
    assert redact("amqp://guest:guest@127.0.0.1:5672/") == "amqp://guest:***@127.0.0.1:5672/"
    assert redact("amqps://broker/vhost") == "amqps://broker/vhost"
