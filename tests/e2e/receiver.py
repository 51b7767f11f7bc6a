"""A webhook receiver for tests: answers the verification of intent, records deliveries, and fails on
demand (status codes, Retry-After, hanging past the sender's timeout, holding a request until released)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.loopback import flood


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    # per POST: a status, "hang" (sleep hang_seconds) or "hold" (wait for ``release``); 200 once empty
    script: list[int | str] = field(default_factory=list)
    echo_challenge: bool = True
    hang_seconds: float = 5.0
    flood_answers: bool = False  # answer every delivery 200 with an endless body
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    held: asyncio.Event = field(default_factory=asyncio.Event)  # set once a "hold" request is waiting
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends every "hold", now and later

    async def handshake(self, request: web.Request) -> web.Response:
        if not self.echo_challenge:
            return web.Response(status=404)
        return web.Response(text=request.query.get("challenge", ""))

    async def deliver(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.flood_answers:
            self.received.append(Received(dict(request.headers), body, 200))
            self.arrived.set()
            return await flood(request)
        action = self.script.pop(0) if self.script else 200
        if action == "hang":
            await asyncio.sleep(self.hang_seconds)
            return web.Response(status=200)
        if action == "hold":
            self.held.set()
            await self.release.wait()
            action = 200
        status = int(action)
        self.received.append(Received(dict(request.headers), body, status))
        self.arrived.set()
        return web.Response(status=status, headers={"Retry-After": "1"} if status == 429 else {})

    def accepted(self) -> list[Received]:
        """Deliveries answered 2xx, deduplicated by webhook-id (the first one counts)."""
        seen: dict[str, Received] = {}
        for item in self.received:
            if 200 <= item.status < 300:
                seen.setdefault(item.headers["webhook-id"], item)
        return list(seen.values())

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.accepted()) < count:
            self.arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"received {len(self.accepted())} of {count} deliveries")
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue
        return self.accepted()


@asynccontextmanager
async def receiver(**options: object) -> AsyncIterator[Receiver]:
    state = Receiver(**options)  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_get("/hook", state.handshake)
    app.router.add_post("/hook", state.deliver)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield state
    finally:
        await runner.cleanup()
