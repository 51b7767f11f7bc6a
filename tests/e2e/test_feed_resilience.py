"""Feed readers across a server restart, and a stream client that stops reading."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from tests.e2e.conftest import Service
from tests.e2e.process import Server, environment, exchange
from tests.support import Signer, example_for, variant

TOTAL = 1000


async def _post_until_accepted(session: aiohttp.ClientSession, url: str, body: bytes) -> None:
    """Send the same bytes until the gateway answers 202 (a restart in between is only a delay)."""
    for _ in range(400):
        try:
            async with session.post(url + "/v1/submissions", data=body,
                                    headers={"Content-Type": FLATTENED_MEDIA_TYPE}) as response:  # fmt: skip
                if response.status == 202:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("never accepted")


async def _pager(url: str, feed: str) -> list[int]:
    seen: list[int] = []
    since = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while len(seen) < TOTAL:
            try:
                params = {"since": str(since), "limit": "50", "feed": feed, "timeout": "2"}
                async with session.get(url + "/v1/changes", params=params) as response:
                    page = await response.json()
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            seen += [c["seq"] for c in page["results"]]
            since = page["last_seq"]
            if feed == "normal":
                await asyncio.sleep(0.02)
    return seen


async def _streamer(url: str) -> list[int]:
    seen: list[int] = []
    timeout = aiohttp.ClientTimeout(total=None, sock_read=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while len(seen) < TOTAL:
            headers = {"Last-Event-ID": str(seen[-1])} if seen else {}
            try:
                async with session.get(url + "/v1/changes", params={"feed": "eventsource"}, headers=headers) as r:
                    async for line in r.content:
                        if line.startswith(b"id: "):
                            seen.append(int(line[4:]))
                            if len(seen) == TOTAL:
                                break
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.1)
    return seen


def test_readers_see_every_change_once_in_order_across_a_restart(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    server = Server(env)
    server.env["EXCHANGE_ORIGIN"] = server.url
    signers = []
    for participant in ("GBR", "ZAF", "IRL"):
        key = SigningKey.generate(f"{participant}/k1")
        (tmp_path / f"{participant}.jwk").write_text(json.dumps(key.public_jwk))
        exchange("admin", "--init", "participant", "add", participant, "--name", participant, "--type", "member_state",
                 env=server.env, check=True)  # fmt: skip
        exchange("admin", "key", "add", key.kid, "--public-key", str(tmp_path / f"{participant}.jwk"),
                 env=server.env, check=True)  # fmt: skip
        signers.append(Signer(key, audience=server.url))
    bodies = []
    for i in range(TOTAL):
        signer = signers[i % 3]
        record_id, record = example_for("law", signer.participant)
        bodies.append(signer.submission(variant(record, i), record_id=f"{record_id}-{i % 7}"))

    async def scenario() -> list[list[int]]:
        readers = [asyncio.create_task(r) for r in (_pager(server.url, "normal"), _pager(server.url, "longpoll"),
                                                     _streamer(server.url))]  # fmt: skip
        async with aiohttp.ClientSession() as session:
            gate = asyncio.Semaphore(16)

            async def send(body: bytes) -> None:
                async with gate:
                    await _post_until_accepted(session, server.url, body)

            await asyncio.gather(*(send(b) for b in bodies[: TOTAL // 2]))
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            await asyncio.gather(*(send(b) for b in bodies[TOTAL // 2 :]))
        return list(await asyncio.wait_for(asyncio.gather(*readers), 120))

    server.start()
    try:
        results = asyncio.run(scenario())
    finally:
        server.stop()
    for seen in results:
        assert seen == list(range(1, TOTAL + 1))


@pytest.mark.settings(feed_write_timeout=0.5, rate_burst=100_000, rate_limit=100_000)
@pytest.mark.parametrize("stack", ["embedded"], indirect=True)  # one stack is enough: the stream code is the same
async def test_a_stream_client_that_stops_reading_is_dropped_and_can_resume(service: Service) -> None:
    url = str(service.client.make_url("/v1/changes?feed=eventsource&include=record,jws"))
    host, port = service.client.host, service.client.port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await _stall_then_read(service, sock, loop, host, port, url)
    finally:
        sock.close()


async def _stall_then_read(
    service: Service, sock: socket.socket, loop: asyncio.AbstractEventLoop, host: str, port: int, url: str
) -> None:
    await loop.sock_connect(sock, (host, port))
    path = url.split(str(port), 1)[1]
    await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    record_id, record = example_for("law", "GBR")
    provisions = [{**record["provisions"][0], "text": "x" * 20_000}, *record["provisions"][1:]]
    big = {**record, "provisions": provisions}  # large events fill the socket buffers quickly
    lines = [service.signer.submission(variant(big, i), record_id=f"{record_id}-{i}") for i in range(400)]
    for start in range(0, len(lines), 100):
        batch = io.BytesIO(b"\n".join(lines[start : start + 100]))
        response = await service.client.post("/v1/submissions:batch", data=batch,
                                             headers={"Content-Type": "application/x-ndjson"})  # fmt: skip
        results: list[dict[str, Any]] = [json.loads(line) for line in (await response.text()).splitlines()]
        assert {r["status"] for r in results} == {202}
    for _ in range(200):  # every submission decided: the stream has had everything to send
        if await service.services.repository.last_seq() == 400:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(2)  # the server has stalled on this client longer than feed_write_timeout
    received = b""
    while True:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 10)
        if not chunk:
            break  # the server closed the stream
        received += chunk
    ids = [int(line[4:]) for line in received.split(b"\n") if line.startswith(b"id: ")]
    assert ids and ids == list(range(1, len(ids) + 1))
    assert len(ids) < 400, "the stalled client was served everything instead of being dropped"
    resumed = await service.client.get("/v1/changes", params={"since": str(ids[-1]), "limit": "1000"})
    assert next(c["seq"] for c in (await resumed.json())["results"]) == ids[-1] + 1
