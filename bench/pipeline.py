"""End to end: signed submissions posted to a real ``exchange serve`` until accepted and readable."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from bench import profile
from exchange import loops
from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
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
    worker_peak_rss_mb: list[float] = field(default_factory=list)  # each child process of ``exchange serve``
    batch: int = 1  # submissions per request (1: the single endpoint; more: NDJSON to /v1/submissions:batch)
    gateway_cpu_seconds: float = 0.0  # CPU the serving process used during the run
    worker_cpu_seconds: float = 0.0  # CPU its worker processes used during the run
    profile: dict[str, dict[str, float]] = field(default_factory=dict)  # process -> stage -> share of samples

    @property
    def per_second(self) -> float:
        return self.submissions / self.total_seconds


Body = tuple[str, str, bytes]  # (participant, submission id, the signed JWS as posted)


def _rss_mb(pid: int, which: str = "VmHWM") -> float:
    """A memory figure of ``pid`` from /proc in MB: VmHWM (peak resident set, the default) or VmRSS (now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{which}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (for ``exchange serve``: its validation workers), by pid."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return sorted(found)


def prepare(env: dict[str, str], origin: str, records: dict[str, dict[str, Any]], count: int) -> list[Body]:
    """Register one State per record and pre-sign ``count`` submissions: (participant, id, body)."""
    return sign(register(env, records), origin, records, count)


def register(env: dict[str, str], participants: Iterable[str]) -> dict[str, SigningKey]:
    """Register each participant (a member State) with a new key of its own: the signing keys."""
    keys = {}
    for participant in participants:
        key = SigningKey.generate(f"{participant}/bench")
        keyfile = Path(env["EXCHANGE_DATA_DIR"]) / f"{participant}.jwk"
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        keyfile.write_text(json.dumps(key.public_jwk))
        exchange(
            "admin",
            "--init",
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
    return keys


def sign(
    keys: dict[str, SigningKey],
    origin: str,
    records: dict[str, dict[str, Any]],
    count: int,
    *,
    record_ids: int = 500,
    processes: int = 1,
) -> list[Body]:
    """``count`` signed submissions, each with a new submission id, the participants taking turns;
    submission ``n`` upserts record ``bench-{n % record_ids}`` with content of its own (a citation naming
    ``n``), so every one makes a new version, and the record's own document identifier. Over ``processes`` processes if more than one."""
    pems = {participant: (key.kid, key.private_pem()) for participant, key in keys.items()}
    texts = {participant: json.dumps(_without(records[participant], "citation")) for participant in keys}
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if processes <= 1 or count < 10_000:
        return _sign_range(pems, texts, origin, created, record_ids, 0, count)
    chunks = processes * 4
    bounds = [count * n // chunks for n in range(chunks + 1)]
    with ProcessPoolExecutor(processes) as pool:
        parts = [
            pool.submit(_sign_range, pems, texts, origin, created, record_ids, a, b)
            for a, b in itertools.pairwise(bounds)
        ]
        return [body for part in parts for body in part.result()]


def _without(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """The record without its document identifiers (one record of a participant holds each) nor ``names``."""
    return {k: v for k, v in record.items() if k not in ("identifiers", *names)}


def variant(record: dict[str, Any], n: int) -> dict[str, Any]:
    """Version ``n`` of a benchmark record: content of its own, and no document identifiers, so that it
    is a new version (not unchanged) under any record id."""
    return {**_without(record, "citation"), "citation": f"bench {n}"}


def _sign_range(
    pems: dict[str, tuple[str, bytes]],
    texts: dict[str, str],
    origin: str,
    created: str,
    record_ids: int,
    start: int,
    stop: int,
) -> list[Body]:
    """Submissions ``start`` to ``stop`` (see :func:`sign`); top level so that a process pool can run it."""
    keys = {participant: SigningKey.from_pem(kid, pem) for participant, (kid, pem) in pems.items()}
    participants = sorted(keys)
    bodies = []
    for n in range(start, stop):
        participant = participants[n % len(participants)]
        submission_id = str(uuid.uuid4())
        head = json.dumps(
            {
                "submission_id": submission_id,
                "participant": participant,
                "audience": origin,
                "created_at": created,
                "action": "upsert",
                "kind": "law",
                "schema": "law/1",
                "record_id": f"bench-{n % record_ids}",
            }
        )
        # the same bytes as json.dumps of the whole payload, without serialising the record each time
        text = texts[participant]
        # a citation of its own (a new version each time) and an identifier of its record id (so that the
        # gateway's and the sequencer's duplicate checks run as they do for real laws)
        identifier = f'[{{"scheme": "national", "value": "bench-{n % record_ids}"}}]'
        payload = (
            f'{head[:-1]}, "record": {{"citation": "bench {n}", "identifiers": {identifier}, {text[1:]}}}'.encode()
        )
        body = json.dumps(keys[participant].sign_jws(payload)).encode()
        bodies.append((participant, submission_id, body))
    return bodies


async def _follow_feed(url: str, expected: set[str], seen: dict[str, float], ready: asyncio.Event) -> None:
    """Record when each ``expected`` submission's change arrives on the event stream (by submission id)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url + "/v1/changes", params={"feed": "eventsource"}) as response,
    ):
        ready.set()
        async for line in response.content:
            if line.startswith(b"data: "):
                submission_id = json.loads(line[6:])["submission_id"]
                if submission_id in expected:
                    seen[submission_id] = time.perf_counter()
                    if len(seen) >= len(expected):
                        return


async def _post_and_follow(
    url: str, bodies: list[Body], clients: int, batch: int = 1
) -> tuple[float, list[float], list[float]]:
    """Post everything while one event-stream reader watches: (post seconds, 202 latencies, POST-to-feed latencies)."""
    arrived: dict[str, float] = {}
    ready = asyncio.Event()
    expected = {sid for _, sid, _ in bodies}
    reader = asyncio.create_task(_follow_feed(url, expected, arrived, ready))
    await ready.wait()
    posted: dict[str, float] = {}
    seconds, latencies = await _post_all(url, bodies, clients, posted, batch=batch)
    await asyncio.wait_for(reader, 600)
    return seconds, latencies, [arrived[sid] - posted[sid] for sid in posted if sid in arrived]


async def _post_all(
    url: str,
    bodies: list[Body],
    clients: int,
    posted: dict[str, float] | None = None,
    *,
    until: float | None = None,
    latencies: list[float] | None = None,
    batch: int = 1,
) -> tuple[float, list[float]]:
    """Post ``bodies`` in order over ``clients`` connections, each expecting a 202: (seconds, latencies).

    With ``batch`` above 1, ``batch`` bodies go in each request, as NDJSON to ``/v1/submissions:batch``
    (each item must be answered 202; its latency is that of the whole request).

    With ``until`` (a ``time.perf_counter()`` value), no further body is taken after it: the ones posted
    are then ``bodies[: len(latencies)]``. Each 202's latency is appended to ``latencies`` as it arrives.

    The load generator is a bare HTTP/1.1 client on keep-alive connections (like ``wrk``): each request
    is a few pre-built header bytes and the pre-signed body, and each response is read by its
    Content-Length, so that little of the machine goes to the generator itself.
    """
    latencies = [] if latencies is None else latencies
    pending = iter(bodies)
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    if batch > 1:
        head = (
            f"POST /v1/submissions:batch HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-ndjson\r\n"
            "Accept: application/json\r\n"
        )
    else:
        head = f"POST /v1/submissions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {FLATTENED_MEDIA_TYPE}\r\n"

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while until is None or time.perf_counter() < until:
                items = list(itertools.islice(pending, batch))
                if not items:
                    return
                start = time.perf_counter()
                if posted is not None:
                    for _, sid, _ in items:
                        posted[sid] = start
                body = b"\n".join(item[2] for item in items)
                writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                status, answer = await _response(reader)
                if batch > 1 and status == 207:
                    refused = [r for r in orjson.loads(answer)["results"] if r["status"] != 202]
                    if refused or len(orjson.loads(answer)["results"]) != len(items):
                        raise RuntimeError(f"batch items refused: {refused[:3]}")
                elif status != 202:
                    raise RuntimeError(f"submission refused: {status} {answer.decode(errors='replace')}")
                latencies.extend([time.perf_counter() - start] * len(items))
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - start, latencies


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length: (status, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = next((int(line[15:]) for line in lines if line[:15].lower() == b"content-length:"), None)
    if length is None:
        raise RuntimeError(f"a response without Content-Length: {head!r}")
    return status, await reader.readexactly(length)


async def _wait_decided(url: str, token: str, bodies: list[Body]) -> None:
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


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds ``pid`` has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    records: dict[str, dict[str, Any]],
    clients: int,
    count: int,
    settings: dict[str, str],
    batch: int = 1,
    *,
    sample: bool = False,
) -> Run:
    """One end-to-end run on a new ``exchange serve``; ``sample``: profile the gateway and worker with py-spy."""
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
        env = environment(Path(tmp) / "data", rate_limit="100000", rate_burst="100000", **settings)
        server = Server(env)
        server.env["EXCHANGE_ORIGIN"] = server.url
        warm_up, *bodies = prepare(server.env, server.url, records, count + 1)
        token = exchange("admin", "token", "create", "--role", "auditor", env=server.env, check=True).stdout.strip()
        server.start()
        try:
            assert server.process is not None
            children = _children(server.process.pid)
            deadline = time.monotonic() + 10
            while settings.get("serve_workers", "1") != "0" and not children and time.monotonic() < deadline:
                time.sleep(0.05)  # the worker processes start beside the gateway
                children = _children(server.process.pid)
            # one submission through the whole pipeline first: the worker processes have started and are ready
            loops.run(_post_all(server.url, [warm_up], 1))
            loops.run(_wait_decided(server.url, token, [warm_up]))
            cpu_before = [_cpu_seconds(pid) for pid in [server.process.pid, *children]]
            names = {"gateway": server.process.pid} | {f"worker {n}": pid for n, pid in enumerate(children, 1)}
            spies = profile.start(names, Path(tmp)) if sample else []
            before = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            post_seconds, latencies, feed = loops.run(_post_and_follow(server.url, bodies, clients, batch))
            loops.run(_wait_decided(server.url, token, bodies))
            total = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_SELF)
            used = [_cpu_seconds(pid) - b for pid, b in zip([server.process.pid, *children], cpu_before, strict=True)]
            shares = profile.sampled(profile.stop(spies))
            rss = _rss_mb(server.process.pid)
            workers = [_rss_mb(child) for child in children]
        finally:
            server.stop()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    quantiles = statistics.quantiles(latencies, n=100)
    visible = statistics.quantiles(feed, n=100)
    return Run(
        clients, count, post_seconds, total, quantiles[49] * 1000, quantiles[98] * 1000, cpu, rss,
        visible[49] * 1000, visible[98] * 1000, workers, batch, used[0], sum(used[1:]), shares,
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
