"""SIGTERM drains: a worker commits and acknowledges the batch in hand, a gateway finishes the requests in
flight; each then exits 0, promptly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections import Counter

import asyncpg
import pytest

from exchange import times
from exchange.models import Subscription
from exchange.services import open_services
from exchange.webhooks import new_secret
from tests.scaleout.processes import Gateway, Stack, sign_many, submit_all
from tests.support import example_for

pytestmark = pytest.mark.services

COUNT = 2000


async def test_sigterm_worker_commits_and_acknowledges_the_batch_in_hand(stack: Stack) -> None:
    _, record = example_for("law", "GBR")
    gateway = stack.gateway()
    sent = await submit_all([gateway.url], sign_many(stack.signer, record, COUNT, 50))
    assert len(sent.accepted) == COUNT
    assert await _depth_reaches(stack, COUNT)

    # Large batches, so that the signal lands while one is being judged or committed.
    worker = stack.worker(stack.env(worker_batch="400", amqp_prefetch="1000"))
    deadline = time.monotonic() + 30
    while await _decided_in(stack) < 1:
        assert time.monotonic() < deadline and worker.running, worker.output()
        await asyncio.sleep(0.005)
    code, _ = await asyncio.to_thread(worker.terminate)  # it exits by itself, in the middle of the stream:
    assert code == 0, worker.output()

    decided = await _decided_in(stack)
    assert 0 < decided < COUNT, "the signal did not arrive in the middle of the stream"
    reported = int(re.findall(r"decided (\d+) submission", worker.output())[-1])
    assert reported == decided, "what the worker decided is not what was committed"
    # Every undecided submission is back in the queue (none was lost with the worker). Delivery is at
    # least once: the broker may hand back a few decided ones of the last batch whose acknowledgments it
    # had not processed when the connection closed (at most that batch); deciding them again changes
    # nothing, as the drain below shows.
    assert await _depth_at_least(stack, COUNT - decided), f"queue depth {await stack.depth()}, {decided} decided"
    assert await stack.depth() <= COUNT - decided + 400

    burst = stack.worker(burst=True)
    assert await asyncio.to_thread(burst.wait, 60) == 0, burst.output()  # it drains the queue, then exits
    statuses = await stack.wait_decided(sent.accepted, timeout=10)
    assert Counter(statuses.values()) == {"accepted": COUNT}
    logged = await stack.logged()
    assert len(logged) == len(set(logged)) == COUNT


async def test_sigterm_stops_the_other_workers_promptly(stack: Stack) -> None:
    deliverer = stack.process("worker", "deliver")
    checkpointer = stack.process("worker", "checkpoint")
    deadline = time.monotonic() + 30
    while not await stack.query("SELECT size FROM log_checkpoints"):  # the key event: a log of size 1
        assert time.monotonic() < deadline and checkpointer.running, checkpointer.output()
        await asyncio.sleep(0.1)
    await _leased_to_a_deliverer(stack)  # the deliverer is running too: it holds a subscription
    for process in (checkpointer, deliverer):
        assert process.running, process.output()
        code, _ = await asyncio.to_thread(process.terminate)
        assert code == 0, process.output()


async def _leased_to_a_deliverer(stack: Stack) -> None:
    """Add an active subscription (with nothing to deliver yet) and wait until a deliverer leases it."""
    async with open_services(stack.settings) as services:
        await services.repository.add_subscription(
            Subscription(
                id="sub_" + uuid.uuid4().hex[:16],
                owner="GBR",
                url="https://receiver.invalid/hook",
                kinds=(),
                participants=(),
                jurisdictions=(),
                secret=new_secret(),
                status="active",
                cursor=0,
                created_at=times.iso(times.now()),
            )
        )
    while not await stack.query("SELECT 1 FROM subscriptions WHERE lease_owner IS NOT NULL"):
        await asyncio.sleep(0.05)


async def _decided_in(stack: Stack) -> int:
    [[count]] = await stack.query("SELECT count(*) FROM submissions WHERE status <> 'received'")
    return int(count)


async def _depth_at_least(stack: Stack, expected: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while await stack.depth() < expected:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _depth_reaches(stack: Stack, expected: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while (depth := await stack.depth()) != expected:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return depth == expected


async def test_sigterm_gateway_finishes_the_requests_in_flight(stack: Stack) -> None:
    _, record = example_for("law", "GBR")
    gateway = stack.gateway()
    stack.worker()
    batches = [[body for _, body in sign_many(stack.signer, record, 500, 20)] for _ in range(4)]
    blocker = await asyncpg.connect(stack.database_url)  # holds receipts back while the signal lands
    await blocker.execute("BEGIN; LOCK TABLE submissions IN EXCLUSIVE MODE")
    try:
        await _send_then_terminate(stack, gateway, batches, blocker)
    finally:
        await blocker.close()  # ends the transaction, if the test failed before it did


async def _send_then_terminate(
    stack: Stack, gateway: Gateway, batches: list[list[bytes]], blocker: asyncpg.Connection
) -> None:
    connections = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in batches]
    for (_, writer), lines in zip(connections, batches, strict=True):
        body = b"\n".join(lines) + b"\n"
        writer.write(
            f"POST /v1/submissions:batch HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n"
            f"Content-Type: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    for _, writer in connections:
        await writer.drain()
    await _receipt_waits_on(blocker)  # the gateway holds the requests: their receipts wait on the lock
    gateway.signal_term()
    signalled = time.monotonic()
    assert await _refuses_connections(gateway.port, within=5), "it still takes new connections"
    await blocker.execute("COMMIT")

    answered: list[float] = []
    accepted: set[str] = set()
    for reader, writer in connections:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
        answered.append(time.monotonic())
        assert head.startswith(b"HTTP/1.1 207"), head
        length = int(re.findall(rb"(?i)content-length: (\d+)", head)[0])
        answer = await asyncio.wait_for(reader.readexactly(length), timeout=10)
        results = [json.loads(line) for line in answer.splitlines()]
        assert [r["status"] for r in results] == [202] * 500
        accepted |= {r["body"]["submission_id"] for r in results}
        writer.close()
    assert max(answered) > signalled, "no request was in flight when the signal came"
    assert await asyncio.to_thread(gateway.wait, 15) == 0, gateway.output()
    statuses = await stack.wait_decided(accepted)
    assert Counter(statuses.values()) == {"accepted": 2000}


async def _receipt_waits_on(blocker: asyncpg.Connection) -> None:
    """Wait until another session waits for a lock on the submissions table (the gateway's receipts)."""
    while not await blocker.fetchval(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'submissions'::regclass"
    ):
        await asyncio.sleep(0.01)


async def _refuses_connections(port: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            return True
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await asyncio.sleep(0.05)
    return False
