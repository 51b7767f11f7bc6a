"""Kill -9 the embedded service while it accepts submissions: after a restart, every submission that
was answered 202 is decided exactly once, and versions stay dense."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from tests.e2e.process import Server, environment, exchange
from tests.support import Signer, example_for, variant


async def _hammer(server: Server, signer: Signer, record: dict[str, object], count: int, kill_after: int) -> set[str]:
    """Send ``count`` submissions concurrently; kill the server once ``kill_after`` were answered 202."""
    acknowledged: set[str] = set()
    killed = asyncio.Event()
    bodies = [(signer.payload(variant(record, n), record_id=f"law-{n % 10}")) for n in range(count)]

    async def one(session: aiohttp.ClientSession, payload: dict[str, object]) -> None:
        if killed.is_set():
            return
        try:
            async with session.post(
                server.url + "/v1/submissions",
                data=signer.sign_payload(payload),
                headers={"Content-Type": FLATTENED_MEDIA_TYPE},
            ) as response:
                if response.status == 202:
                    acknowledged.add(str(payload["submission_id"]))
        except (aiohttp.ClientError, ConnectionError):
            return
        if len(acknowledged) >= kill_after and not killed.is_set():
            killed.set()
            server.kill()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        gate = asyncio.Semaphore(32)

        async def gated(payload: dict[str, object]) -> None:
            async with gate:
                await one(session, payload)

        await asyncio.gather(*(gated(p) for p in bodies))
    return acknowledged


async def _decided(server: Server, token: str, ids: set[str]) -> dict[str, dict[str, object]]:
    states: dict[str, dict[str, object]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(600):
            for sid in sorted(ids - states.keys()):
                async with session.get(f"{server.url}/v1/submissions/GBR/{sid}") as response:
                    body = await response.json()
                    if body["status"] != "received":
                        states[sid] = body
            if len(states) == len(ids):
                break
            await asyncio.sleep(0.1)
    return states


def test_sigkill_loses_nothing_and_applies_nothing_twice(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    server = Server(env)
    server.env["EXCHANGE_ORIGIN"] = server.url
    server.env["EXCHANGE_QUEUE_LEASE_SECONDS"] = "2"
    key = SigningKey.generate("GBR/2026-01")
    (tmp_path / "key.jwk").write_text(json.dumps(key.public_jwk))
    exchange(
        "admin",
        "--init",
        "participant",
        "add",
        "GBR",
        "--name",
        "United Kingdom",
        "--type",
        "member_state",
        env=server.env,
        check=True,
    )
    exchange("admin", "key", "add", key.kid, "--public-key", str(tmp_path / "key.jwk"), env=server.env, check=True)
    token = exchange("admin", "token", "create", "--role", "auditor", env=server.env, check=True).stdout.strip()
    _, record = example_for("law", "GBR")
    signer = Signer(key, audience=server.url)

    server.start()
    acknowledged = asyncio.run(_hammer(server, signer, record, count=600, kill_after=150))
    assert len(acknowledged) >= 150
    server.start()
    try:
        states = asyncio.run(_decided(server, token, acknowledged))
        assert set(states) == acknowledged, "a submission answered 202 was lost"
        assert all(s["status"] == "accepted" for s in states.values())

        async def versions() -> dict[str, list[dict[str, object]]]:
            out = {}
            async with aiohttp.ClientSession() as session:
                for n in range(10):
                    async with session.get(f"{server.url}/v1/records/GBR/law/law-{n}/versions") as response:
                        out[f"law-{n}"] = (await response.json()).get("versions", [])
            return out

        all_versions = asyncio.run(versions())
        applied = [v["provenance"]["submission_id"] for vs in all_versions.values() for v in vs]  # type: ignore[index]
        assert len(applied) == len(set(applied)), "a submission was applied twice"
        assert acknowledged <= set(applied)
        for vs in all_versions.values():
            assert [v["version"] for v in vs] == list(range(1, len(vs) + 1))
    finally:
        server.stop()
