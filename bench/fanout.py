"""Feed fan-out: 100 Server-Sent Events clients and 50 webhook subscriptions follow a stream of changes
from a real ``exchange serve``; events delivered per second and submit-to-delivery latency. And
:func:`held_open`: 1,000 event streams held open while changes flow, with the server's memory sampled.

python -m bench.fanout            # both
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.pipeline import _rss_mb, variant
from exchange import loops
from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from tests.e2e.process import Server, environment, exchange
from tests.support import Signer


class Arrivals:
    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.count = 0
        self.last = 0.0
        self.expected = 0
        self.complete = asyncio.Event()

    def arrived(self, submission_id: str) -> None:
        now = time.perf_counter()
        self.count += 1
        self.last = now
        if submission_id in self.sent:
            self.latencies.append(now - self.sent[submission_id])
        if self.expected and self.count >= self.expected:
            self.complete.set()


async def _receiver(arrivals: Arrivals) -> tuple[web.AppRunner, str]:
    async def handshake(request: web.Request) -> web.Response:
        return web.Response(text=request.query.get("challenge", ""))

    async def hook(request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        arrivals.arrived(event["data"]["submission_id"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/hook/{n}", handshake)
    app.router.add_post("/hook/{n}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _sse_client(
    url: str, arrivals: Arrivals, expected: int, ready: asyncio.Event, session: aiohttp.ClientSession | None = None
) -> None:
    """Follow the event stream until ``expected`` changes arrived (on ``session``, or a session of its own)."""
    if session is None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=120)) as own:
            await _sse_client(url, arrivals, expected, ready, own)
        return
    seen = 0
    async with session.get(f"{url}/v1/changes", params={"feed": "eventsource", "since": "0"}) as response:
        ready.set()
        async for line in response.content:
            if line.startswith(b"data: "):
                arrivals.arrived(json.loads(line[6:])["submission_id"])
                seen += 1
                if seen == expected:
                    return


async def _submit_at_rate(
    server: Server,
    signer: Signer,
    record: dict[str, Any],
    changes: int,
    rate: float,
    arrivals: Arrivals,
    every_second: Callable[[float], None] = lambda _: None,
) -> float:
    """Post ``changes`` new versions at ``rate`` a second (each sent time noted); when the posting began.
    ``every_second`` is called about once a second with the time since then."""
    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        for i in range(changes):
            payload = signer.payload(variant(record, i), record_id=f"fanout-{i % 50}")
            arrivals.sent[payload["submission_id"]] = time.perf_counter()
            async with session.post(f"{server.url}/v1/submissions", data=signer.sign_payload(payload),
                                    headers={"Content-Type": FLATTENED_MEDIA_TYPE}) as r:  # fmt: skip
                assert r.status == 202
            if i % max(1, int(rate)) == 0:
                every_second(time.perf_counter() - start)
            await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
    return start


async def _run(server: Server, signer: Signer, record: dict[str, Any], token: str, changes: int, rate: float,
               streams: int, hooks: int) -> dict[str, Any]:  # fmt: skip
    arrivals = Arrivals()
    arrivals.expected = changes * (streams + hooks)
    runner, hook_base = await _receiver(arrivals)
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
            for n in range(hooks):
                async with session.post(f"{server.url}/v1/subscriptions", json={"url": f"{hook_base}/hook/{n}"}) as r:
                    assert r.status == 201, await r.text()
        ready = [asyncio.Event() for _ in range(streams)]
        clients = [asyncio.create_task(_sse_client(server.url, arrivals, changes, e)) for e in ready]
        await asyncio.gather(*(e.wait() for e in ready))
        start = await _submit_at_rate(server, signer, record, changes, rate, arrivals)
        await asyncio.wait_for(asyncio.gather(*clients), 300)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrivals.complete.wait(), 120)
    finally:
        await runner.cleanup()
    q = statistics.quantiles(arrivals.latencies, n=100)
    return {
        "changes": changes,
        "sse_clients": streams,
        "webhook_subscriptions": hooks,
        "events_delivered": arrivals.count,
        "events_expected": arrivals.expected,
        "events_per_second": arrivals.count / (arrivals.last - start),
        "latency_p50_ms": q[49] * 1000,
        "latency_p99_ms": q[98] * 1000,
    }


def run(
    record: dict[str, Any], changes: int = 300, rate: float = 100.0, streams: int = 100, hooks: int = 50
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="exchange-bench-fanout-") as tmp:
        server, key = _registered(Path(tmp), webhooks_allow_private="true")
        token = exchange("admin", "token", "create", "--role", "subscriber", "--participant", "GBR",
                         env=server.env, check=True).stdout.strip()  # fmt: skip
        server.start()
        try:
            return loops.run(
                _run(server, Signer(key, audience=server.url), record, token, changes, rate, streams, hooks)
            )
        finally:
            server.stop()


def _registered(tmp: Path, **settings: str) -> tuple[Server, SigningKey]:
    """An ``exchange serve`` (not started yet) in ``tmp`` with GBR registered, and GBR's signing key."""
    env = environment(tmp / "data", rate_limit="100000", rate_burst="100000", **settings)
    server = Server(env)
    server.env["EXCHANGE_ORIGIN"] = server.url
    key = SigningKey.generate("GBR/bench")
    (tmp / "key.jwk").write_text(json.dumps(key.public_jwk))
    admin = ("admin", "--init", "participant", "add", "GBR", "--name", "UK", "--type", "member_state")
    exchange(*admin, env=server.env, check=True)
    exchange("admin", "key", "add", key.kid, "--public-key", str(tmp / "key.jwk"), env=server.env, check=True)
    return server, key


async def _held(server: Server, signer: Signer, record: dict[str, Any], streams: int, changes: int, rate: float,
                pid: int) -> dict[str, Any]:  # fmt: skip
    arrivals = Arrivals()
    arrivals.expected = changes * streams
    samples: list[tuple[float, float]] = []
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as listening:
        before = _rss_mb(pid, "VmRSS")
        ready = [asyncio.Event() for _ in range(streams)]
        clients = [asyncio.create_task(_sse_client(server.url, arrivals, changes, e, listening)) for e in ready]
        await asyncio.gather(*(e.wait() for e in ready))
        opened = _rss_mb(pid, "VmRSS")
        start = await _submit_at_rate(
            server, signer, record, changes, rate, arrivals, lambda t: samples.append((t, _rss_mb(pid, "VmRSS")))
        )
        await asyncio.wait_for(asyncio.gather(*clients), 300)
        samples.append((time.perf_counter() - start, _rss_mb(pid, "VmRSS")))
    q = statistics.quantiles(arrivals.latencies, n=100)
    return {
        "sse_clients": streams,
        "changes": changes,
        "rate": rate,
        "events_delivered": arrivals.count,
        "events_expected": arrivals.expected,
        "latency_p50_ms": q[49] * 1000,
        "latency_p99_ms": q[98] * 1000,
        "rss_mb_before": before,
        "rss_mb_opened": opened,
        "rss_mb_samples": samples,
    }


def held_open(record: dict[str, Any], streams: int = 1000, changes: int = 300, rate: float = 20.0) -> dict[str, Any]:
    """``streams`` event streams held open while ``changes`` flow at ``rate`` a second: the server's
    resident memory before they open, once open, and every second after, and every event delivered."""
    with tempfile.TemporaryDirectory(prefix="exchange-bench-held-") as tmp:
        server, key = _registered(Path(tmp))
        server.start()
        assert server.process is not None
        try:
            return loops.run(
                _held(server, Signer(key, audience=server.url), record, streams, changes, rate, server.process.pid)
            )
        finally:
            server.stop()


if __name__ == "__main__":
    from importlib import resources

    law = json.loads(
        (resources.files("schemas") / "examples" / "law" / "gbr-computer-misuse-act-1990.json").read_text()
    )
    print(run(law))
    print(held_open(law))
