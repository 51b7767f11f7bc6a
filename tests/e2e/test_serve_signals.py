"""SIGTERM drains ``exchange serve``: the webhook delivery in flight finishes, the process exits 0, and
after a restart the next change follows from the durable cursor (nothing lost, nothing sent twice)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiohttp

from exchange.envelope import SigningKey
from tests.e2e.process import Server, environment, exchange
from tests.e2e.receiver import receiver
from tests.support import Signer, example_for


def _cursor(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "exchange.db") as db:
        return int(db.execute("SELECT cursor FROM subscriptions").fetchone()[0])


async def _submit(server: Server, signer: Signer, record_id: str) -> None:
    _, record = example_for("law", "GBR")
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(
            server.url + "/v1/submissions",
            data=signer.submission(record, record_id=record_id),
            headers={"Content-Type": "application/jose+json"},
        ) as response,
    ):
        assert response.status == 202, await response.text()


async def _said(server: Server, text: str) -> None:
    while text not in server.log.read_text(errors="replace"):
        await asyncio.sleep(0.05)


async def test_sigterm_serve_finishes_the_webhook_delivery_in_flight(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = environment(data_dir, webhooks_allow_private="true", webhook_retry_base="0.05", log_level="INFO")
    server = Server(env)
    server.env["EXCHANGE_ORIGIN"] = server.url
    key = SigningKey.generate("GBR/2026-01")
    (tmp_path / "key.jwk").write_text(json.dumps(key.public_jwk))
    for args in (
        ("participant", "add", "GBR", "--name", "United Kingdom", "--type", "member_state"),
        ("key", "add", key.kid, "--public-key", str(tmp_path / "key.jwk")),
    ):
        exchange("admin", "--init", *args, env=server.env, check=True)
    subscriber = exchange(
        "admin", "token", "create", "--participant", "GBR", "--role", "subscriber", env=server.env, check=True
    ).stdout.strip()
    signer = Signer(key, audience=server.url)
    await asyncio.to_thread(server.start)
    try:
        async with receiver(script=["hold"]) as hook:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    server.url + "/v1/subscriptions",
                    json={"url": hook.url, "since": 0},
                    headers={"Authorization": f"Bearer {subscriber}"},
                ) as response,
            ):
                assert response.status == 201, await response.text()
            await _submit(server, signer, "first")
            await asyncio.wait_for(hook.held.wait(), 60)
            assert server.process is not None
            server.process.terminate()  # SIGTERM while the receiver holds the delivery of seq 1
            await asyncio.wait_for(_said(server, "finishing the deliveries in flight"), 60)
            hook.release.set()
            assert await asyncio.to_thread(server.process.wait, 60) == 0, server.log.read_text(errors="replace")
            assert [json.loads(r.body)["data"]["seq"] for r in hook.received] == [1]
            assert _cursor(data_dir) == 1, "the delivery in flight was dropped instead of finished"

            await asyncio.to_thread(server.start)
            await _submit(server, signer, "second")
            deliveries = await hook.wait_for(2)
            assert [json.loads(d.body)["data"]["seq"] for d in deliveries] == [1, 2]
            assert len(hook.received) == 2, "a finished delivery was sent again after the restart"
    finally:
        await asyncio.to_thread(server.stop)
