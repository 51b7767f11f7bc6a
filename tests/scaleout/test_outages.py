"""Outages of the database and of the broker, seen by real gateway and worker processes through a TCP proxy
that is cut for a while, then restored: nothing answered 202 is lost or decided twice, and the processes
recover by themselves."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest

from tests.scaleout.processes import Stack, post, ready, sign_many, submit_all
from tests.scaleout.proxy import TcpProxy
from tests.support import AMQP_URL, example_for

pytestmark = pytest.mark.services

OUTAGE = 6.0  # seconds: far longer than the retry back-off these workers are given (0.2 + 0.4 s)


async def test_database_outage_submissions_wait_in_the_queue_and_nothing_is_lost(stack: Stack) -> None:
    _, record = example_for("law", "GBR")
    with TcpProxy.before(stack.database_url) as proxy:
        env = stack.env(database_url=proxy.url(stack.database_url), retry_max_attempts="3")
        gateway = stack.gateway(env)
        stack.worker(env)
        before = await submit_all([gateway.url], sign_many(stack.signer, record, 100, 10))
        assert len(before.accepted) == 100
        await stack.wait_decided(before.accepted)
        assert stack.exchange("check", env=env).returncode == 0

        proxy.cut()
        cut_at = time.monotonic()
        during = sign_many(stack.signer, record, 300, 10)
        # The same submission ids with other bytes: one decided before the outage, one sent during it.
        reused = [next(iter(before.accepted)), during[0][0]]
        clashes = [
            stack.signer.sign_payload(stack.signer.payload(record, submission_id=sid, record_id="other"))
            for sid in reused
        ]
        sent = await submit_all([gateway.url], during, concurrency=16)
        assert not sent.refused and not sent.errors, sent.refused[:3]
        assert len(sent.accepted) == 300, "the gateway must queue submissions while the database is away"
        async with aiohttp.ClientSession() as session:
            for body in clashes:
                status, answer, _ = await post(session, gateway.url, body)
                assert status == 202, answer  # the gateway cannot tell without the database; the worker will
            async with session.get(
                f"{gateway.url}/v1/submissions/GBR/{reused[0]}",
                headers={"Authorization": f"Bearer {stack.admin_token}"},
            ) as response:
                assert response.status == 503 and response.headers["Retry-After"]
        status, readiness = await ready(gateway.url)
        assert status == 503 and readiness["checks"]["queue"] == "ok", readiness
        assert readiness["checks"]["database"].startswith("unavailable"), readiness
        assert stack.exchange("check", env=env).returncode == 1
        await asyncio.sleep(OUTAGE - (time.monotonic() - cut_at))
        proxy.restore()

        statuses = await stack.wait_decided(sent.accepted, timeout=60)
        assert Counter(statuses.values()) == {"accepted": 300}, stack.logs()
        assert (await ready(gateway.url))[0] == 200
        assert stack.exchange("check", env=env).returncode == 0

    logged = await stack.logged()
    assert len(logged) == len(set(logged)) == 400, "a submission was logged twice, or lost"
    dead = await stack.dead_letters()
    assert sorted(d.message.submission_id for d in dead) == sorted(reused), [d.reason for d in dead]
    assert all(d.reason.startswith("conflict: submission_id") for d in dead)
    rows = await stack.query(
        "SELECT submission_id, jws_sha256, status, record FROM submissions WHERE submission_id = ANY($1::text[])",
        reused,
    )
    for row in rows:  # the first bytes keep their outcome; the clashing ones changed nothing
        assert row["status"] == "accepted" and not row["record"].endswith("/other")
    assert await stack.query("SELECT 1 FROM records WHERE record_id = 'other'") == []


async def test_broker_outage_gateways_answer_503_then_recover_by_themselves(stack: Stack) -> None:
    _, record = example_for("law", "GBR")
    with TcpProxy.before(AMQP_URL) as proxy:
        env = stack.env(queue_url=proxy.url(AMQP_URL))
        gateways = [stack.gateway(env), stack.gateway(env)]
        stack.worker(env)
        urls = [g.url for g in gateways]
        before = await submit_all(urls, sign_many(stack.signer, record, 100, 10))
        assert len(before.accepted) == 100
        await stack.wait_decided(before.accepted)  # the worker is up and consuming

        proxy.cut()
        cut_at = time.monotonic()
        during = sign_many(stack.signer, record, 60, 10)
        refused: list[tuple[str, bytes]] = []
        async with aiohttp.ClientSession() as session:
            for n, (sid, body) in enumerate(during):
                status, answer, headers = await post(session, urls[n % 2], body)
                assert status == 503, (status, answer)  # never a 202 that nothing durable stands behind
                assert answer["type"] == "urn:exchange:problem:unavailable"
                assert int(headers["Retry-After"]) > 0
                refused.append((sid, body))
                await asyncio.sleep(0.05)
        for url in urls:
            status, readiness = await ready(url)
            assert status == 503 and readiness["checks"]["database"] == "ok", readiness
            assert readiness["checks"]["queue"].startswith("unavailable"), readiness
        assert stack.exchange("check", env=env).returncode == 1
        await asyncio.sleep(OUTAGE - (time.monotonic() - cut_at))
        proxy.restore()

        recovered, refused_meanwhile = await _until_accepted(urls, sign_many(stack.signer, record, 200, 10), 30)
        retried = await submit_all(urls, refused + refused_meanwhile)  # clients re-send the same bytes
        after = await submit_all(urls, sign_many(stack.signer, record, 100, 10))
        assert not retried.refused and not after.refused, (retried.refused[:2], after.refused[:2])
        assert len(retried.accepted) == 60 + len(refused_meanwhile) and len(after.accepted) == 100
        assert stack.exchange("check", env=env).returncode == 0

        accepted = before.accepted | recovered | retried.accepted | after.accepted
        statuses = await stack.wait_decided(accepted, timeout=60)
        assert Counter(statuses.values()) == {"accepted": len(accepted)}, stack.logs()
    logged = await stack.logged()
    assert len(logged) == len(set(logged)) == len(accepted)
    assert set(logged) == accepted
    assert await stack.dead_letters() == []


async def _until_accepted(
    urls: list[str], bodies: list[tuple[str, bytes]], within: float
) -> tuple[set[str], list[tuple[str, bytes]]]:
    """Post one at a time, round the gateways, until each has accepted one: (accepted ids, refused ones).

    Fails if that takes longer than ``within`` seconds: the gateways must recover by themselves.
    """
    deadline = time.monotonic() + within
    accepted: set[str] = set()
    recovered: set[str] = set()
    refused: list[tuple[str, bytes]] = []
    async with aiohttp.ClientSession() as session:
        for n, (sid, body) in enumerate(bodies):
            url = urls[n % len(urls)]
            status, answer, _ = await post(session, url, body)
            if status == 202:
                accepted.add(sid)
                recovered.add(url)
                if recovered == set(urls):
                    return accepted, refused
            else:
                assert status == 503, answer
                refused.append((sid, body))
                assert time.monotonic() < deadline, "the gateways did not recover by themselves"
                await asyncio.sleep(0.2)
    raise AssertionError(f"only {sorted(recovered)} recovered")
