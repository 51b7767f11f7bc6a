"""End to end: signed submissions posted to a real ``exchange serve`` until accepted and readable."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from exchange.envelope import SigningKey
from tests.e2e.process import Server, environment, exchange


@dataclass
class Run:
    clients: int
    submissions: int
    post_seconds: float
    total_seconds: float
    ack_p50_ms: float
    ack_p99_ms: float
    loadgen_cpu_seconds: float
    server_peak_rss_mb: float
    feed_p50_ms: float = 0.0
    feed_p99_ms: float = 0.0

    @property
    def per_second(self) -> float:
        return self.submissions / self.total_seconds


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def prepare(
    env: dict[str, str], origin: str, records: dict[str, dict[str, Any]], count: int
) -> list[tuple[str, str, bytes]]:
    """Register one State per record and pre-sign ``count`` submissions: (participant, id, body)."""
    keys = {}
    for participant in records:
        key = SigningKey.generate(f"{participant}/bench")
        keyfile = Path(env["EXCHANGE_DATA_DIR"]) / f"{participant}.jwk"
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        keyfile.write_text(json.dumps(key.public_jwk))
        exchange(
            "admin",
            "participant",
            "add",
            participant,
            "--name",
            participant,
            "--type",
            "member_state",
            env=env,
            check=True,
        )
        exchange("admin", "key", "add", key.kid, "--public-key", str(keyfile), env=env, check=True)
        keys[participant] = key
    bodies = []
    participants = sorted(records)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for n in range(count):
        participant = participants[n % len(participants)]
        payload = {
            "submission_id": str(uuid.uuid4()),
            "participant": participant,
            "audience": origin,
            "created_at": created,
            "action": "upsert",
            "kind": "law",
            "schema": "law/1",
            "record_id": f"bench-{n % 500}",
            "record": records[participant],
        }
        body = json.dumps(keys[participant].sign_jws(json.dumps(payload).encode())).encode()
        bodies.append((participant, payload["submission_id"], body))
    return bodies


async def _follow_feed(url: str, expected: int, seen: dict[str, float], ready: asyncio.Event) -> None:
    """Record when each submission's change arrives on the event stream (by submission id)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url + "/v1/changes", params={"feed": "eventsource"}) as response,
    ):
        ready.set()
        async for line in response.content:
            if line.startswith(b"data: "):
                seen[json.loads(line[6:])["submission_id"]] = time.perf_counter()
                if len(seen) >= expected:
                    return


async def _post_and_follow(
    url: str, bodies: list[tuple[str, str, bytes]], clients: int
) -> tuple[float, list[float], list[float]]:
    """Post everything while one event-stream reader watches: (post seconds, 202 latencies, POST-to-feed latencies)."""
    arrived: dict[str, float] = {}
    ready = asyncio.Event()
    reader = asyncio.create_task(_follow_feed(url, len(bodies), arrived, ready))
    await ready.wait()
    posted: dict[str, float] = {}
    seconds, latencies = await _post_all(url, bodies, clients, posted)
    await asyncio.wait_for(reader, 600)
    return seconds, latencies, [arrived[sid] - posted[sid] for sid in posted if sid in arrived]


async def _post_all(
    url: str, bodies: list[tuple[str, str, bytes]], clients: int, posted: dict[str, float] | None = None
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Content-Type": "application/jose+json"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while not queue.empty():
                _, sid, body = queue.get_nowait()
                start = time.perf_counter()
                if posted is not None:
                    posted[sid] = start
                async with session.post(url + "/v1/submissions", data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 202:
                        raise RuntimeError(f"submission refused: {response.status} {await response.text()}")
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.perf_counter() - start, latencies


async def _wait_decided(url: str, token: str, bodies: list[tuple[str, str, bytes]]) -> None:
    """Wait until the last submission of each participant is accepted (the queue is FIFO), then check a sample."""
    last: dict[str, str] = {}
    for participant, sid, _ in bodies:
        last[participant] = sid
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        pending = dict(last)
        while pending:
            for participant, sid in list(pending.items()):
                async with session.get(f"{url}/v1/submissions/{participant}/{sid}") as response:
                    state = await response.json()
                if state["status"] == "accepted":
                    del pending[participant]
                elif state["status"] == "rejected":
                    raise RuntimeError(f"rejected: {state}")
            if pending:
                await asyncio.sleep(0.005)
        for participant, sid, _ in bodies[:: max(1, len(bodies) // 50)]:
            async with session.get(f"{url}/v1/submissions/{participant}/{sid}") as response:
                state = await response.json()
            if state["status"] != "accepted":
                raise RuntimeError(f"not accepted: {state}")


def run(records: dict[str, dict[str, Any]], clients: int, count: int, settings: dict[str, str]) -> Run:
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
        env = environment(Path(tmp) / "data", rate_limit="100000", rate_burst="100000", **settings)
        server = Server(env)
        server.env["EXCHANGE_ORIGIN"] = server.url
        bodies = prepare(server.env, server.url, records, count)
        token = exchange("admin", "token", "create", "--role", "auditor", env=server.env, check=True).stdout.strip()
        server.start()
        try:
            before = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            post_seconds, latencies, feed = asyncio.run(_post_and_follow(server.url, bodies, clients))
            asyncio.run(_wait_decided(server.url, token, bodies))
            total = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_SELF)
            assert server.process is not None
            rss = _rss_mb(server.process.pid)
        finally:
            server.stop()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    quantiles = statistics.quantiles(latencies, n=100)
    visible = statistics.quantiles(feed, n=100)
    return Run(
        clients, count, post_seconds, total, quantiles[49] * 1000, quantiles[98] * 1000, cpu, rss,
        visible[49] * 1000, visible[98] * 1000,
    )  # fmt: skip


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return f"{os.cpu_count()} cores, {cpu}; Python {sys.version.split()[0]}; commit {git.stdout.strip() or '?'}"
