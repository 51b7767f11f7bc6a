"""Webhooks from several ``exchange gateway`` processes, across a SIGKILL and a SIGTERM.

Every gateway runs a deliverer; a subscription is leased to one at a time. A slow receiver records,
for each POST, the change it carries, its ``webhook-id``, whether its 2xx answer reached a live sender,
and the subscription's cursor at that moment. The test decides when a held request is answered, so
each interleaving is reached by events, not by timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.scaleout.processes import Gateway, Stack, sign_many, submit_all
from tests.support import example_for

pytestmark = pytest.mark.services

CHANGES = 5


@dataclass
class Arrival:
    seq: int
    webhook_id: str
    cursor: int  # the subscription's durable cursor when the request arrived
    answered: bool = False  # its 2xx went back to a sender still connected


@dataclass
class SlowReceiver:
    """Answers each POST after the cursor lookup (slow); holds the first POST of ``hold_seq`` until released."""

    stack: Stack
    hold_seq: int
    url: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    progressed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handshake(self, request: web.Request) -> web.Response:
        return web.Response(text=request.query.get("challenge", ""))

    async def deliver(self, request: web.Request) -> web.Response:
        body = await request.read()
        seq = int(json.loads(body)["data"]["seq"])
        [[cursor]] = await self.stack.query("SELECT cursor FROM subscriptions")
        arrival = Arrival(seq, request.headers["webhook-id"], int(cursor))
        self.arrivals.append(arrival)
        if seq == self.hold_seq and not self.held.is_set():
            self.held.set()
            await self.release.wait()
        arrival.answered = request.transport is not None and not request.transport.is_closing()
        self.progressed.set()
        return web.Response(status=200)

    def first_answers(self) -> list[Arrival]:
        """The first answered arrival of each seq, in the order they were answered."""
        seen: dict[int, Arrival] = {}
        for arrival in self.arrivals:
            if arrival.answered:
                seen.setdefault(arrival.seq, arrival)
        return list(seen.values())

    async def wait_answered(self, count: int, timeout: float = 90) -> None:
        async def every() -> None:
            while len(self.first_answers()) < count:
                self.progressed.clear()
                await self.progressed.wait()

        await asyncio.wait_for(every(), timeout)


@asynccontextmanager
async def slow_receiver(stack: Stack, hold_seq: int) -> AsyncIterator[SlowReceiver]:
    state = SlowReceiver(stack, hold_seq)
    app = web.Application()
    app.router.add_get("/hook", state.handshake)
    app.router.add_post("/hook", state.deliver)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield state
    finally:
        state.release.set()
        await runner.cleanup()


def webhook_env(stack: Stack, **extra: str) -> dict[str, str]:
    return stack.env(webhooks_allow_private="true", webhook_retry_base="0.05", webhook_timeout="60", **extra)


async def subscribe(gateway: Gateway, stack: Stack, url: str) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.post(
            gateway.url + "/v1/admin/tokens", json={"role": "subscriber", "participant": "GBR"}, headers=admin
        ) as response:
            token = (await response.json())["token"]
        async with session.post(
            gateway.url + "/v1/subscriptions",
            json={"url": url, "since": 0},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            body = await response.json()
            assert response.status == 201, body
            return dict(body)


async def lease_owner(stack: Stack) -> str | None:
    [[owner]] = await stack.query("SELECT lease_owner FROM subscriptions")
    return None if owner is None else str(owner)


async def until(condition: Any, timeout: float = 30) -> None:
    """Poll an async condition (a look at the database) until it holds."""

    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def submit_changes(stack: Stack, gateway: Gateway, count: int) -> None:
    _, record = example_for("law", "GBR")
    sent = await submit_all([gateway.url], sign_many(stack.signer, record, count, count))
    assert len(sent.accepted) == count, sent.refused
    statuses = await stack.wait_decided(sent.accepted)
    assert set(statuses.values()) == {"accepted"}


def check_deliveries(hook: SlowReceiver, sub: dict[str, Any], count: int) -> None:
    """Every seq answered, first answers in seq order, one webhook-id per seq, cursor never ahead."""
    assert [a.seq for a in hook.first_answers()] == list(range(1, count + 1))
    for arrival in hook.arrivals:
        assert arrival.webhook_id == f"msg_{sub['id']}_{arrival.seq}", arrival
        assert arrival.cursor == arrival.seq - 1, f"seq {arrival.seq} was sent with the cursor at {arrival.cursor}"


async def test_a_sigkilled_lease_holder_hands_over_without_loss_or_disorder(stack: Stack) -> None:
    env = webhook_env(stack)
    first = stack.gateway(env)
    stack.worker()
    async with slow_receiver(stack, hold_seq=2) as hook:
        sub = await subscribe(first, stack, hook.url)
        await until(lambda: _leased(stack))
        holder = await lease_owner(stack)  # the first gateway's deliverer: the only one running
        second = stack.gateway(env)
        await submit_changes(stack, second, CHANGES)
        await asyncio.wait_for(hook.held.wait(), 60)
        assert await lease_owner(stack) == holder
        first.kill()  # mid-delivery: seq 2 is in the receiver's hands, unanswered
        hook.release.set()
        await hook.wait_answered(CHANGES)  # the second gateway takes the lease over once it expires
        assert await lease_owner(stack) != holder
        check_deliveries(hook, sub, CHANGES)
        retried = [a for a in hook.arrivals if a.seq == 2]
        assert len(retried) >= 2, "the change held when its sender died was not sent again"
        await until(lambda: _cursor_at(stack, CHANGES))


async def test_sigterm_gateway_finishes_the_webhook_delivery_in_flight(stack: Stack) -> None:
    gateway = stack.gateway(webhook_env(stack, log_level="INFO"))
    stack.worker()
    async with slow_receiver(stack, hold_seq=1) as hook:
        sub = await subscribe(gateway, stack, hook.url)
        await submit_changes(stack, gateway, 2)
        await asyncio.wait_for(hook.held.wait(), 60)
        gateway.signal_term()
        await until(lambda: _said(gateway, "finishing the deliveries in flight"))
        hook.release.set()  # answered only now that the gateway is stopping
        assert await asyncio.to_thread(gateway.wait, 60) == 0, gateway.output()
        assert [a.seq for a in hook.first_answers()] == [1]
        [[cursor]] = await stack.query("SELECT cursor FROM subscriptions")
        assert cursor == 1, "the delivery in flight was dropped instead of finished"
        logged = await stack.query("SELECT seq, status_code FROM webhook_deliveries ORDER BY id")
        assert [(r["seq"], r["status_code"]) for r in logged] == [(1, 200)]
        assert await lease_owner(stack) is None, "the stopped gateway kept its lease"
        stack.gateway(webhook_env(stack))  # a new gateway carries on from the cursor: nothing is lost
        await hook.wait_answered(2)
        check_deliveries(hook, sub, 2)
        assert [a.seq for a in hook.arrivals] == [1, 2], "a finished delivery was sent again"


async def _leased(stack: Stack) -> bool:
    return await lease_owner(stack) is not None


async def _cursor_at(stack: Stack, seq: int) -> bool:
    [[cursor]] = await stack.query("SELECT cursor FROM subscriptions")
    return int(cursor) == seq


async def _said(process: Gateway, text: str) -> bool:
    return text in process.output()
