"""Workers racing on the same records, and messages that cannot be processed, on real processes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections import Counter

import aio_pika
import aiohttp
import pytest

from exchange import times
from exchange.models import QueuedSubmission
from exchange.queue.port import DeadLetter
from exchange.queue.rabbitmq import RabbitQueue
from tests.scaleout.processes import Stack, post, sign_many, submit_all
from tests.scaleout.proxy import TcpProxy
from tests.support import AMQP_URL, example_for, variant

pytestmark = pytest.mark.services


async def test_two_workers_racing_on_the_same_records_keep_versions_dense_and_ordered(stack: Stack) -> None:
    _, record = example_for("law", "GBR")
    env = stack.env(worker_batch="8", amqp_prefetch="8")  # small batches, so the two workers interleave
    gateway = stack.gateway(env)
    workers = [stack.worker(env), stack.worker(env)]
    await stack.wait_consumers(2)
    sent = await submit_all([gateway.url], sign_many(stack.signer, record, 600, 2), concurrency=32)
    assert len(sent.accepted) == 600, sent.refused[:3]
    await stack.wait_decided(sent.accepted)

    # Pairs racing for the same base_version: exactly one of each pair may win.
    winners = []
    async with aiohttp.ClientSession() as session:
        for round_ in range(6):
            [[current]] = await stack.query("SELECT version FROM records WHERE record_id = 'law-0'")
            pair = [
                stack.signer.sign_payload(
                    stack.signer.payload(
                        variant(record, 1000 + round_),  # new content, so the winner makes a new version
                        record_id="law-0",
                        base_version=current,
                        submission_id=str(uuid.uuid4()),
                    )
                )
                for _ in range(2)
            ]
            answers = await asyncio.gather(*(post(session, gateway.url, body) for body in pair))
            ids = {answer["submission_id"] for status, answer, _ in answers if status == 202}
            assert len(ids) == 2, answers
            outcomes = await stack.wait_decided(ids)
            assert sorted(outcomes.values()) == ["accepted", "rejected"], outcomes
            winners += [sid for sid, status in outcomes.items() if status == "accepted"]
            [loser] = [sid for sid, status in outcomes.items() if status == "rejected"]
            [[errors]] = await stack.query("SELECT errors FROM submissions WHERE submission_id = $1", loser)
            assert json.loads(errors)[0]["rule"] == "conflict:base-version"

    for worker in workers:
        assert worker.terminate()[0] == 0
    decided = [int(re.findall(r"decided (\d+) submission", w.output())[-1]) for w in workers]
    assert all(n > 0 for n in decided), f"both workers must have taken part: {decided}"
    versions = await stack.query("SELECT record_id, version, seq, log_index FROM record_versions ORDER BY seq")
    assert len(versions) == 600 + len(winners)
    for record_id in ("law-0", "law-1"):
        rows = [v for v in versions if v["record_id"] == record_id]
        assert [v["version"] for v in rows] == list(range(1, len(rows) + 1)), "versions are not dense in seq order"
        assert [v["log_index"] for v in rows] == sorted(v["log_index"] for v in rows)
    assert [v["seq"] for v in versions] == list(range(1, len(versions) + 1))
    indexes = [r[0] for r in await stack.query("SELECT idx FROM log_entries ORDER BY idx")]
    assert indexes == list(range(len(indexes)))


async def test_poison_messages_are_dead_lettered_visible_and_redrivable(stack: Stack) -> None:
    _, record = example_for("law", "GBR")
    with TcpProxy.before(stack.database_url) as proxy:
        gateway = stack.gateway()  # on the database directly
        worker_env = stack.env(database_url=proxy.url(stack.database_url), retry_max_attempts="1")
        stack.worker(worker_env)
        first = await submit_all([gateway.url], sign_many(stack.signer, record, 20, 5))
        await stack.wait_decided(first.accepted)

        # Two messages nobody can process: a submission whose stored JWS is unreadable, and one without metadata.
        junk = b"this is not a JWS"
        unreadable = QueuedSubmission(
            "GBR", str(uuid.uuid4()), "law", times.iso(times.now()), hashlib.sha256(junk).hexdigest(), "flattened", junk
        )
        queue = RabbitQueue(AMQP_URL, stack.settings)
        await queue.open()
        try:
            await queue.publish([unreadable])
            connection = await aio_pika.connect(AMQP_URL)
            async with connection:
                channel = await connection.channel()
                exchange = await channel.get_exchange(queue.names.submissions)
                await exchange.publish(aio_pika.Message(b"\x00junk", message_id="junk-1"), "submission.law.GBR")
        finally:
            await queue.close()
        second = await submit_all([gateway.url], sign_many(stack.signer, record, 20, 5))
        await stack.wait_decided(second.accepted)  # the stream goes on around them

        dead = await _dead(stack, 2)
        by_id = {d.message.submission_id: d for d in dead}
        assert by_id[unreadable.submission_id].reason.startswith("stored JWS unreadable")
        assert by_id["junk-1"].reason.startswith("rejected by the broker")
        listed = [json.loads(line) for line in _ok(stack.exchange("admin", "dead-letters", "list")).splitlines()]
        assert {d["submission_id"]: d["reason"] for d in listed} == {k: v.reason for k, v in by_id.items()}

        # A transient fault outlasting the (here: single) attempt dead-letters good submissions too …
        proxy.cut()
        stranded = await submit_all([gateway.url], sign_many(stack.signer, record, 10, 5))
        assert len(stranded.accepted) == 10
        await _dead(stack, 3)
        proxy.restore()
        gave_up = await _stranded(stack, stranded.accepted)
        assert gave_up and all("PostgreSQL" in d.reason for d in gave_up), [d.reason for d in gave_up]
        # … and once it is over, re-driving them (the admin API) has them decided, once.
        headers = {"Authorization": f"Bearer {stack.admin_token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            for letter in gave_up:
                async with session.post(f"{gateway.url}/v1/admin/dead-letters/{letter.id}/retry") as response:
                    assert response.status == 204, await response.text()
            async with session.post(
                f"{gateway.url}/v1/admin/dead-letters/{by_id[unreadable.submission_id].id}/retry"
            ) as response:
                assert response.status == 204
        statuses = await stack.wait_decided(stranded.accepted)
        assert Counter(statuses.values()) == {"accepted": 10}

        # The unreadable one comes back to the dead letters with its reason; dropping it (the CLI) is for good.
        remaining = await _settled_dead(stack, 2)
        assert {d.message.submission_id for d in remaining} == {unreadable.submission_id, "junk-1"}
        for letter in remaining:
            _ok(stack.exchange("admin", "dead-letters", "drop", letter.id))
        assert await stack.dead_letters() == []
    logged = await stack.logged()
    assert len(logged) == len(set(logged)) == 50
    assert unreadable.submission_id not in logged


def _ok(result: object) -> str:
    assert getattr(result, "returncode", 1) == 0, getattr(result, "stderr", "")
    return str(getattr(result, "stdout", ""))


async def _dead(stack: Stack, at_least: int, timeout: float = 30) -> list[DeadLetter]:
    deadline = time.monotonic() + timeout
    while True:
        dead = await stack.dead_letters()
        if len(dead) >= at_least:
            return dead
        assert time.monotonic() < deadline, f"{len(dead)} dead letters, expected {at_least}\n{stack.logs()}"
        await asyncio.sleep(0.2)


async def _stranded(stack: Stack, ids: set[str], timeout: float = 30) -> list[DeadLetter]:
    """Once each of ``ids`` is either decided or given up on (and the queue is empty): those given up on."""
    deadline = time.monotonic() + timeout
    while True:
        gave_up = [d for d in await stack.dead_letters() if d.reason.startswith("gave up after 1 attempts")]
        statuses = await stack.statuses()
        decided = {i for i in ids if statuses.get(i) not in (None, "received")}
        if decided | {d.message.submission_id for d in gave_up} == ids and await stack.depth() == 0:
            return gave_up
        assert time.monotonic() < deadline, f"{len(gave_up)} given up, {len(decided)} decided\n{stack.logs()}"
        await asyncio.sleep(0.2)


async def _settled_dead(stack: Stack, count: int, timeout: float = 30) -> list[DeadLetter]:
    """The dead letters once there are exactly ``count`` and the queue is empty."""
    deadline = time.monotonic() + timeout
    while True:
        dead = await stack.dead_letters()
        if len(dead) == count and await stack.depth() == 0:
            return dead
        assert time.monotonic() < deadline, f"{len(dead)} dead letters, expected {count}"
        await asyncio.sleep(0.2)
