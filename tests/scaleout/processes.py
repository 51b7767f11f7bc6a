"""The scale-out deployment as real processes: ``exchange gateway`` and ``exchange worker validate``.

:class:`Stack` holds one isolated deployment on the shared PostgreSQL and RabbitMQ (a fresh schema and
a fresh exchange/queue prefix): a registered State with its key, an admin token, and every process
started on it, which it stops when the test ends. Processes may be pointed at a :class:`TcpProxy`
instead of the services themselves, to cut their link.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg

from exchange import admin
from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.queue.port import DeadLetter
from exchange.queue.rabbitmq import RabbitQueue
from exchange.services import open_services
from exchange.settings import Settings
from tests.e2e.process import environment, free_port
from tests.support import AMQP_URL, Signer, make_settings, variant

ORIGIN = "https://exchange.test"
JOSE = {"Content-Type": FLATTENED_MEDIA_TYPE}


class Process:
    """One ``exchange`` process, its output kept in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "exchange", *self.args], env=self.env, stdout=out, stderr=out
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal_term(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout=timeout)

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM, then wait: (exit status, seconds it took)."""
        start = time.monotonic()
        self.signal_term()
        code = self.wait(timeout)
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self.running:
            assert self.popen is not None
            self.popen.kill()
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        """Best effort at the end of a test: SIGTERM, then SIGKILL."""
        if self.running:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class Gateway(Process):
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        super().__init__(name, ["gateway", "--port", str(self.port)], env, log_dir)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Gateway:
        """Start it and wait until ``/readyz`` answers 200."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise AssertionError(f"{self.name} exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.name} did not become ready:\n{self.output()}")


class Worker(Process):
    def __init__(self, name: str, env: dict[str, str], log_dir: Path, *, burst: bool = False) -> None:
        super().__init__(name, ["worker", "validate", *(["--burst"] if burst else [])], env, log_dir)

    def start(self) -> Worker:
        self.spawn()
        return self


@dataclass
class Stack:
    """One isolated scale-out deployment: settings, a State (GBR) with its key, and the processes."""

    root: Path
    database_url: str
    prefix: str
    signer: Signer
    admin_token: str
    processes: list[Process] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        """Settings reaching the services directly (for the test's own look at them)."""
        return make_settings(
            self.root / "data",
            database_url=self.database_url,
            queue_url=AMQP_URL,
            amqp_prefix=self.prefix,
            origin=ORIGIN,
        )

    def env(self, *, database_url: str | None = None, queue_url: str | None = None, **settings: str) -> dict[str, str]:
        """The environment of a process: the stack's settings, the given URLs (a proxy's) and overrides."""
        values = {
            "database_url": database_url or self.database_url,
            "queue_url": queue_url or AMQP_URL,
            "amqp_prefix": self.prefix,
            "origin": ORIGIN,
            "rate_limit": "100000",
            "rate_burst": "100000",
            "retry_delay": "0.2",
            "log_format": "text",
            **settings,
        }
        return environment(self.root / "data", **values)

    def gateway(self, env: dict[str, str] | None = None) -> Gateway:
        process = Gateway(f"gateway-{len(self.processes)}", env or self.env(), self.root / "logs")
        self.processes.append(process)
        return process.start()

    def worker(self, env: dict[str, str] | None = None, *, burst: bool = False) -> Worker:
        process = Worker(f"worker-{len(self.processes)}", env or self.env(), self.root / "logs", burst=burst)
        self.processes.append(process)
        return process.start()

    def process(self, *args: str, env: dict[str, str] | None = None) -> Process:
        """Any other ``exchange`` command, started (``worker checkpoint``, ``worker deliver`` …)."""
        process = Process(f"{args[-1]}-{len(self.processes)}", list(args), env or self.env(), self.root / "logs")
        self.processes.append(process)
        process.spawn()
        return process

    def exchange(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exchange", *args], env=env or self.env(), capture_output=True, text=True, timeout=60
        )

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()[-3000:]}" for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    # looking at the services directly ----------------------------------------------------------------

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def statuses(self) -> dict[str, str]:
        """Every submission's status by id."""
        return {r[0]: r[1] for r in await self.query("SELECT submission_id, status FROM submissions")}

    async def logged(self) -> list[str]:
        """The submission id of every submission entry of the transparency log, in log order."""
        rows = await self.query("SELECT entry FROM log_entries ORDER BY idx")
        entries = [json.loads(bytes(r[0])) for r in rows]
        return [e["submission_id"] for e in entries if e["type"] == "submission"]

    async def wait_decided(self, ids: set[str], timeout: float = 60) -> dict[str, str]:
        """Wait until every id in ``ids`` is decided; return their statuses (fails with the logs)."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = await self.statuses()
            pending = [i for i in ids if statuses.get(i) in (None, "received")]
            if not pending:
                return {i: statuses[i] for i in ids}
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} of {len(ids)} not decided in {timeout} s\n{self.logs()}")
            await asyncio.sleep(0.2)

    async def consumers(self) -> int:
        """How many workers consume the validate queue."""
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(f"{self.prefix}.validate", passive=True)
            return int(queue.declaration_result.consumer_count or 0)

    async def wait_consumers(self, count: int, timeout: float = 30) -> None:
        """Wait until ``count`` workers consume (they are up), failing with the logs."""
        deadline = time.monotonic() + timeout
        while await self.consumers() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {count} workers consuming after {timeout} s\n{self.logs()}")
            await asyncio.sleep(0.1)

    async def depth(self) -> int:
        async with self._queue() as queue:
            return await queue.depth()

    async def dead_letters(self) -> list[DeadLetter]:
        async with self._queue() as queue:
            return await queue.list_dead_letters(limit=1000)

    @contextlib.asynccontextmanager
    async def _queue(self) -> AsyncIterator[RabbitQueue]:
        queue = RabbitQueue(AMQP_URL, self.settings)
        await queue.open()
        try:
            yield queue
        finally:
            await queue.close()


@contextlib.asynccontextmanager
async def stack_on(root: Path, database_url: str, prefix: str) -> Any:
    """Register GBR, its key and an admin token on a fresh deployment; stop every process at the end."""
    settings = make_settings(
        root / "data", database_url=database_url, queue_url=AMQP_URL, amqp_prefix=prefix, origin=ORIGIN
    )
    async with open_services(settings) as services:  # also creates the schema, topology and repository keys
        await admin.add_participant(
            services.repository, services.validator, "GBR", "United Kingdom", "member_state", []
        )
        key = SigningKey.generate("GBR/2026-01")
        await admin.add_key(services.repository, key.kid, json.dumps(key.public_jwk).encode())
        token, _ = await admin.create_token(services.repository, "admin", None)
    stack = Stack(root, database_url, prefix, Signer(key, audience=ORIGIN), token)
    try:
        yield stack
    finally:
        stack.stop()


# the client side ---------------------------------------------------------------------------------------


@dataclass
class Sent:
    """What the submitting side saw: ids answered 202, and every other answer."""

    accepted: set[str] = field(default_factory=set)
    refused: list[tuple[str, int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    errors: int = 0


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with session.post(url + "/v1/submissions", data=body, headers=JOSE) as response:
        return response.status, await response.json(content_type=None), dict(response.headers)


async def submit_all(
    urls: list[str],
    bodies: list[tuple[str, bytes]],
    *,
    concurrency: int = 32,
    progress: Sent | None = None,
) -> Sent:
    """POST every (submission id, body), spread over the gateways, ``concurrency`` at a time.

    ``progress``, when given, is filled in as answers arrive (for a test that acts midway).
    """
    sent = progress if progress is not None else Sent()
    pending: asyncio.Queue[tuple[int, str, bytes]] = asyncio.Queue()
    for n, (sid, body) in enumerate(bodies):
        pending.put_nowait((n, sid, body))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def client() -> None:
            while not pending.empty():
                n, sid, body = pending.get_nowait()
                try:
                    status, answer, headers = await post(session, urls[n % len(urls)], body)
                except (aiohttp.ClientError, TimeoutError):
                    sent.errors += 1
                    continue
                if status == 202:
                    sent.accepted.add(sid)
                else:
                    sent.refused.append((sid, status, answer, headers))

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return sent


def sign_many(signer: Signer, record: dict[str, Any], count: int, records: int) -> list[tuple[str, bytes]]:
    """``count`` signed upserts spread over ``records`` record ids: (submission id, body)."""
    out = []
    for n in range(count):
        payload = signer.payload(variant(record, n), record_id=f"law-{n % records}")
        out.append((str(payload["submission_id"]), signer.sign_payload(payload)))
    return out


async def ready(url: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(url + "/readyz") as response,
    ):
        return response.status, await response.json()


__all__ = [
    "ORIGIN",
    "Gateway",
    "Process",
    "Sent",
    "Stack",
    "Worker",
    "ready",
    "sign_many",
    "stack_on",
    "submit_all",
]
