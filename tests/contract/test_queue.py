"""The queue contract: every adapter (embedded SQLite, RabbitMQ) passes these same tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from exchange import times
from exchange.models import QueuedSubmission
from exchange.queue.port import SubmissionQueue


def message(participant: str = "EST", kind: str = "law", body: bytes = b'{"x":1}') -> QueuedSubmission:
    return QueuedSubmission(
        participant=participant,
        submission_id=str(uuid.uuid4()),
        kind=kind,
        received_at=times.iso(times.now()),
        jws_sha256="ab" * 32,
        serialization="flattened",
        body=body,
    )


async def drain(queue: SubmissionQueue, expected: int, timeout: float = 5.0) -> list[QueuedSubmission]:
    """Fetch and ack until ``expected`` messages were seen or ``timeout`` passes."""
    seen: list[QueuedSubmission] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(seen) < expected and loop.time() < deadline:
        batch = await queue.fetch(100, timeout=0.5)
        await queue.ack(batch)
        seen.extend(d.message for d in batch)
    return seen


async def test_published_message_arrives_unchanged(queue: SubmissionQueue) -> None:
    sent = message(body=b'{"protected":"eyJ","payload":"e30","signature":"c2ln"}\n\x00binary')
    await queue.publish([sent])
    deliveries = await queue.fetch(10, timeout=5)
    assert [d.message for d in deliveries] == [sent]
    assert deliveries[0].attempt == 1
    await queue.ack(deliveries)


async def test_acked_message_is_gone(queue: SubmissionQueue) -> None:
    await queue.publish([message()])
    await queue.ack(await queue.fetch(10, timeout=5))
    assert await queue.fetch(10, timeout=0.3) == []
    assert await queue.depth() == 0


async def test_fetch_on_empty_queue_returns_within_timeout(queue: SubmissionQueue) -> None:
    # the outer bound only stops a fetch that ignores its timeout from hanging the suite
    assert await asyncio.wait_for(queue.fetch(10, timeout=0.2), timeout=60) == []


async def test_fifo_for_one_consumer(queue: SubmissionQueue) -> None:
    sent = [message() for _ in range(20)]
    await queue.publish(sent)
    got = await drain(queue, 20)
    assert [m.submission_id for m in got] == [m.submission_id for m in sent]


async def test_concurrent_publishes_all_arrive(queue: SubmissionQueue) -> None:
    sent = [message(participant=p) for p in ("EST", "KEN", "ZAF") for _ in range(30)]
    await asyncio.gather(*(queue.publish([m]) for m in sent))
    got = await drain(queue, len(sent))
    assert sorted(m.submission_id for m in got) == sorted(m.submission_id for m in sent)


async def test_unacked_message_comes_back_to_another_consumer(
    queue: SubmissionQueue, reopen_queue: Callable[[], SubmissionQueue]
) -> None:
    sent = message()
    await queue.publish([sent])
    first = await queue.fetch(10, timeout=5)
    assert [d.message for d in first] == [sent]
    await queue.close()  # the consumer dies without acknowledging
    second_queue = reopen_queue()
    await second_queue.open()
    try:
        again: list = []
        for _ in range(20):
            again = await second_queue.fetch(10, timeout=0.5)
            if again:
                break
        assert [d.message for d in again] == [sent]
        assert again[0].attempt == 2
        await second_queue.ack(again)
    finally:
        await second_queue.close()
        await queue.open()  # the fixture closes it once more


async def test_retry_delays_and_counts_attempts(queue: SubmissionQueue) -> None:
    sent = message()
    await queue.publish([sent])
    [delivery] = await queue.fetch(10, timeout=5)
    await queue.retry(delivery, "database unavailable", delay=0.6)
    assert await queue.fetch(10, timeout=0.1) == []
    later: list = []
    for _ in range(20):
        later = await queue.fetch(10, timeout=0.5)
        if later:
            break
    assert [d.message for d in later] == [sent]
    assert later[0].attempt == 2
    await queue.ack(later)


async def test_dead_letter_is_visible_then_redriven(queue: SubmissionQueue) -> None:
    sent = message()
    await queue.publish([sent])
    [delivery] = await queue.fetch(10, timeout=5)
    await queue.dead_letter(delivery, "payload cannot be parsed")
    assert await queue.fetch(10, timeout=0.2) == []
    dead = []
    for _ in range(20):
        dead = await queue.list_dead_letters()
        if dead:
            break
        await asyncio.sleep(0.1)
    assert len(dead) == 1
    assert dead[0].message == sent
    assert dead[0].reason == "payload cannot be parsed"
    assert dead[0].attempts == 1
    assert await queue.redrive(dead[0].id)
    again = await drain(queue, 1)
    assert again == [sent]
    assert await queue.list_dead_letters() == []


async def test_dead_letter_can_be_dropped(queue: SubmissionQueue) -> None:
    await queue.publish([message()])
    [delivery] = await queue.fetch(10, timeout=5)
    await queue.dead_letter(delivery, "poison")
    dead = []
    for _ in range(20):
        dead = await queue.list_dead_letters()
        if dead:
            break
        await asyncio.sleep(0.1)
    assert await queue.drop(dead[0].id)
    assert not await queue.drop(dead[0].id)
    assert await queue.list_dead_letters() == []
    assert not await queue.redrive("no-such-id")


async def test_depth_counts_waiting_messages(queue: SubmissionQueue) -> None:
    await queue.publish([message() for _ in range(5)])
    depth = 0
    for _ in range(20):
        depth = await queue.depth()
        if depth == 5:
            break
        await asyncio.sleep(0.1)
    assert depth == 5
    await queue.ping()
