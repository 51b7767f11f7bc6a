"""A forked, rewritten or re-keyed log stops ``exchange follow`` and fails ``exchange verify``.

Two real repositories serve the same origin with the same log key: the second received the same
signed submissions in the same order, so its feed agrees with the first on every seq, record, version,
log index and submission id, but its log entries (their receipt times) differ, so its tree is another
one: what a repository that rewrote its log and signed it again looks like from outside. A third case
restarts the repository with a new log key that the old key never co-signed.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from exchange import admin
from exchange.envelope import SigningKey
from tests.connectors.test_follow import cli
from tests.e2e.conftest import Service, register, start_service
from tests.e2e.test_verify import exchange
from tests.support import Signer, example_for


@dataclass
class Served:
    """One repository on a loopback port and the bodies it accepted, in order."""

    service: Service
    url: str
    data_dir: Path
    auditor: str
    bodies: list[bytes] = field(default_factory=list)

    async def accept(self, body: bytes) -> int:
        verdict = await self.service.submit_and_wait(body)
        assert verdict["status"] == "accepted", verdict
        self.bodies.append(body)
        return int(verdict["seq"])

    async def checkpoint_size(self) -> int:
        note = await (await self.service.client.get("/v1/log/checkpoint")).text()
        return int(note.splitlines()[1])

    def sql(self, statement: str, *args: Any) -> None:
        with sqlite3.connect(self.data_dir / "exchange.db") as db:
            assert db.execute(statement, args).rowcount == 1


@asynccontextmanager
async def served(data_dir: Path, key: SigningKey | None = None, **settings: Any) -> AsyncIterator[Served]:
    """The embedded app on ``data_dir``; GBR registered with ``key`` (a new one when None)."""
    client, services = await start_service(data_dir, settings)
    try:
        if key is None:
            signer = await register(services, "GBR")
        else:
            if await services.repository.get_participant("GBR") is None:
                await admin.add_participant(
                    services.repository, services.validator, "GBR", "GBR ministry", "member_state", []
                )
            if key.kid not in {k.kid for k in await services.repository.list_keys("GBR")}:
                await admin.add_key(services.repository, key.kid, json.dumps(key.public_jwk).encode())
            signer = Signer(key, audience=services.settings.public_origin)
        admin_token, _ = await admin.create_token(services.repository, "admin", None)
        auditor, _ = await admin.create_token(services.repository, "auditor", None)
        url = str(client.make_url("")).rstrip("/")
        yield Served(Service(client, services, signer, admin_token, ""), url, data_dir, auditor)
    finally:
        await client.close()


def law_bodies(signer: Signer, n: int, tag: str = "") -> list[bytes]:
    """``n`` laws of their own ids; another ``tag`` gives them other content (new versions, not unchanged)."""
    rid, record = example_for("law", "GBR")
    return [
        signer.submission({**record, "citation": f"{record['citation']} ({i}{tag})"}, record_id=f"{rid}-{i}")
        for i in range(n)
    ]


async def follow_once(url: str, out: Path) -> tuple[int, str]:
    return await cli(url, "--out", str(out), "--mode", "pull", "--once")


def pinned(out: Path) -> dict[str, Any]:
    return dict(json.loads(out.with_name(out.name + ".checkpoint").read_text())["checkpoint"])


@dataclass
class Fork:
    """A follower's copy of repository A, and B: the same feed over another log with A's log key."""

    a: Served
    b: Served
    copy: Path


@pytest.fixture
async def fork(tmp_path: Path) -> AsyncIterator[Fork]:
    async with served(tmp_path / "a") as a:
        bodies = law_bodies(a.service.signer, 3)
        for body in bodies[:2]:
            await a.accept(body)
        await register(a.service.services, "GBR")  # one more log entry after the changes: a key event
        copy = tmp_path / "copy.ndjson"
        code, err = await follow_once(a.url, copy)
        assert code == 0, err
        size = await a.checkpoint_size()
        assert pinned(copy)["size"] == size
        log_key = tmp_path / "a" / "keys" / "log.pem"
        async with served(tmp_path / "b", a.service.signer.key, log_key_file=log_key) as b:
            for body in bodies[:2]:
                await b.accept(body)
            yield Fork(a, b, copy)


async def test_a_checkpoint_of_the_pinned_size_with_another_root_stops_the_follower(fork: Fork) -> None:
    size = pinned(fork.copy)["size"]
    await fork.b.accept(law_bodies(fork.b.service.signer, 3)[2])
    assert await fork.b.checkpoint_size() == size  # B's log has A's pinned size, and another root
    code, err = await follow_once(fork.b.url, fork.copy)
    assert code == 1, err
    assert f"two signed checkpoints of size {size} have different roots: the log forked" in err
    assert pinned(fork.copy)["size"] == size and len(fork.copy.read_text().splitlines()) == 2


async def test_a_log_rewritten_and_signed_again_stops_the_follower(fork: Fork) -> None:
    size = pinned(fork.copy)["size"]
    for body in law_bodies(fork.b.service.signer, 2, " rewritten"):
        await fork.b.accept(body)
    assert await fork.b.checkpoint_size() > size
    code, err = await follow_once(fork.b.url, fork.copy)
    assert code == 1, err
    assert f"is not consistent with the trusted one of size {size}" in err
    assert pinned(fork.copy)["size"] == size


@pytest.mark.parametrize("grown", [0, 2], ids=["same-size", "rewritten-and-grown"])
async def test_verify_fails_on_a_checkpoint_signed_over_another_log(fork: Fork, grown: int) -> None:
    """B's database holds A's signed checkpoint (same key): the tree under it is not what was signed."""
    checkpoint = pinned(fork.copy)
    size = checkpoint["size"]
    for body in law_bodies(fork.b.service.signer, 1 + grown):
        await fork.b.accept(body)
    assert await fork.b.checkpoint_size() == size + grown
    code, out, err = await exchange("verify", fork.b.url, "--token", fork.b.auditor, "--quiet")
    assert code == 0, out + err
    with sqlite3.connect(fork.b.data_dir / "exchange.db") as db:
        db.execute(
            "INSERT OR REPLACE INTO log_checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?)",
            (size, base64.b64decode(checkpoint["root"]), checkpoint["note"], "2026-01-01T00:00:00Z"),
        )
    code, out, err = await exchange("verify", fork.b.url, "--token", fork.b.auditor, "--quiet")
    assert code == 1, out + err
    assert f"checkpoint {size}: the root recomputed from log entries 0..{size - 1} differs from the signed root" in out


async def test_a_new_log_key_the_old_one_did_not_co_sign_stops_the_follower(tmp_path: Path) -> None:
    async with served(tmp_path / "a") as a:
        key = a.service.signer.key
        for body in law_bodies(a.service.signer, 2):
            await a.accept(body)
        copy = tmp_path / "copy.ndjson"
        code, err = await follow_once(a.url, copy)
        assert code == 0, err
    # restarted with a new log key, and no previous key to co-sign the hand-over
    async with served(tmp_path / "a", key, log_key_file=tmp_path / "new-log.pem") as restarted:
        info = await (await restarted.service.client.get("/v1/info")).json()
        state = json.loads(copy.with_name(copy.name + ".checkpoint").read_text())
        assert not set(info["log_verifier_keys"]) & set(state["verifier_keys"])
        rid, record = example_for("law", "GBR")
        await restarted.accept(restarted.service.signer.submission(record, record_id=f"{rid}-later"))
        code, err = await follow_once(restarted.url, copy)
        assert code == 1, err
        assert "the checkpoint's signature does not verify" in err
        after = json.loads(copy.with_name(copy.name + ".checkpoint").read_text())
        assert after["verifier_keys"] == state["verifier_keys"], "the follower trusted the new key on its own"
        # an auditor downloading now finds the checkpoints signed before the restart unverifiable
        code, out, err = await exchange("verify", restarted.url, "--token", restarted.auditor, "--quiet")
        assert code == 1, out + err
        assert "its signature does not verify with the log's verifier key" in out
