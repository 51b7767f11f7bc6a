"""Two real nodes on loopback: a repository whose checkpoints a witness node cosigns over HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from exchange import admin
from exchange.federation import collector
from exchange.gateway.app import create_app
from exchange.gateway.appkeys import SERVICES
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.relay import forwarder
from exchange.transparency.cosignature import QuorumError, WitnessSigner, check_quorum
from exchange.transparency.note import NoteSigner, parse_checkpoint, verify_note
from tests.conftest import backend_overrides
from tests.e2e.conftest import Service, register
from tests.support import example_for, make_settings
from workers import checkpoint, deliver, validate

IMPOSTOR = WitnessSigner("impostor.test/witness", Ed25519PrivateKey.generate()).vkey


def _key_file(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(0o600)
    return key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _start(tmp: Path, port: int | None = None, **overrides: Any) -> TestClient[Any, Any]:
    settings = make_settings(tmp, **overrides)
    app = create_app(settings, background=[validate.background, deliver.run, checkpoint.run, collector.run])
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    return client


@dataclass
class Nodes:
    repository: Service
    witness_vkey: str
    start_witness: Any
    witness_client: TestClient[Any, Any]

    async def checkpoint(self) -> str:
        response = await self.repository.client.get("/v1/log/checkpoint")
        assert response.status == 200
        return await response.text()

    async def cosigned_checkpoint(self, at_least: int, timeout: float = 30.0) -> str:
        """The repository's checkpoint once it covers ``at_least`` entries and carries the cosignature."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            note = await self.checkpoint()
            size = parse_checkpoint(note.split("\n\n")[0] + "\n").size
            try:
                if size >= at_least:
                    check_quorum(note, [self.witness_vkey], 1)
                    return note
            except QuorumError:
                pass
            assert asyncio.get_running_loop().time() < deadline, f"no cosignature on {note!r}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def nodes(tmp_path: Path, stack: str) -> AsyncIterator[Nodes]:
    log_key = _key_file(tmp_path / "repository-keys" / "log.pem")
    witness_key = _key_file(tmp_path / "witness-keys" / "witness.pem")
    log_vkey = NoteSigner("repository.test", log_key).verifier_key
    witness_vkey = WitnessSigner("witness.test/witness", witness_key).vkey
    port = _free_port()

    async def start_witness() -> TestClient[Any, Any]:
        return await _start(
            tmp_path / "witness",
            port,
            origin="https://witness.test",
            witness_logs=(log_vkey,),
            witness_key_file=tmp_path / "witness-keys" / "witness.pem",
        )

    holder = Nodes(None, witness_vkey, start_witness, await start_witness())  # type: ignore[arg-type]
    scale_out = stack == "scale-out"
    try:
        async with backend_overrides(
            "postgresql" if scale_out else "sqlite", "rabbitmq" if scale_out else "sqlite"
        ) as overrides:
            repository = await _start(
                tmp_path / "repository",
                **overrides,
                log_key_file=tmp_path / "repository-keys" / "log.pem",
                witnesses=(
                    f"{witness_vkey} http://127.0.0.1:{port}/witness",
                    # Answered by the same witness, whose lines are not by this key: nothing is kept.
                    f"{IMPOSTOR} http://127.0.0.1:{port}/witness",
                ),
                checkpoint_interval=0.05,
                witness_max_backoff=0.2,
                witness_timeout=2.0,
            )
            try:
                services = repository.app[SERVICES]  # type: ignore[index]
                signer = await register(services, "GBR")
                admin_token, _ = await admin.create_token(services.repository, "admin", None)
                token, _ = await admin.create_token(services.repository, "participant", "GBR")
                holder.repository = Service(repository, services, signer, admin_token, token)
                yield holder
            finally:
                await repository.close()
    finally:
        await holder.witness_client.close()


async def _accept(service: Service, n: int, tag: str) -> list[dict[str, Any]]:
    record_id, record = example_for("law", "GBR")
    verdicts = []
    for i in range(n):
        verdict = await service.submit_and_wait(service.signer.submission(record, record_id=f"{record_id}-{tag}{i}"))
        assert verdict["status"] == "accepted", verdict
        verdicts.append(verdict)
    return verdicts


async def test_checkpoints_gain_the_witness_cosignature_and_catch_up_after_an_outage(nodes: Nodes) -> None:
    service = nodes.repository
    info = await (await service.client.get("/v1/info")).json()

    first = await _accept(service, 2, "a")
    note = await nodes.cosigned_checkpoint(first[-1]["log_index"] + 1)
    verify_note(note, info["log_verifier_key"])  # still the log's note, with one more signature
    assert "impostor.test" not in note
    receipt = await (await service.client.get(first[0]["links"]["receipt"])).json()
    check_quorum(receipt["checkpoint"], [nodes.witness_vkey], 1)
    listed = (await (await service.client.get("/v1/log/checkpoints")).json())["checkpoints"]
    assert any(check_quorum(c["note"], [nodes.witness_vkey], 1) for c in listed if c["note"] == note)

    # The witness goes down: the repository keeps accepting and serving, without the cosignature.
    await nodes.witness_client.close()
    during = await _accept(service, 2, "b")
    size = during[-1]["log_index"] + 1
    deadline = asyncio.get_running_loop().time() + 20
    while parse_checkpoint(verify_note(await nodes.checkpoint(), info["log_verifier_key"])).size < size:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    with pytest.raises(QuorumError, match=r"witness\.test/witness"):
        check_quorum(await nodes.checkpoint(), [nodes.witness_vkey], 1)

    # It comes back (same state, same key): the repository catches up with a consistency proof.
    nodes.witness_client = await nodes.start_witness()
    await nodes.cosigned_checkpoint(size)

    # A repository that forgot what the witness cosigned learns it from the witness's 409 (old 0 first).
    await service.services.federation.store.set_cosigned_size("witness.test/witness", 0)
    later = await _accept(service, 1, "c")
    await nodes.cosigned_checkpoint(later[-1]["log_index"] + 1)


@pytest.mark.parametrize("stack", ["embedded"])
async def test_verify_requires_the_witness_quorum(nodes: Nodes, tmp_path: Path) -> None:
    from tests.e2e.test_verify import exchange, url_of

    service = nodes.repository
    accepted = await _accept(service, 1, "q")
    await nodes.cosigned_checkpoint(accepted[-1]["log_index"] + 1)
    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    absent = WitnessSigner("absent.test/witness", Ed25519PrivateKey.generate()).vkey
    url = url_of(service)

    code, out, err = await exchange("verify", url, "--token", auditor, "--quiet", "--witness", nodes.witness_vkey)
    assert code == 0, out + err
    assert "cosigned by 1 trusted witness(es): witness.test/witness" in out
    both = ("--witness", nodes.witness_vkey, "--witness", absent)
    code, out, err = await exchange("verify", url, "--token", auditor, "--quiet", *both, "--quorum", "2")
    assert code == 1, out + err
    assert "lacks the witness quorum" in out and "no cosignature by absent.test/witness" in out
    assert (await exchange("verify", url, "--token", auditor, "--quiet", *both, "--quorum", "1"))[0] == 0

    info = tmp_path / "info.json"
    info.write_text(await (await service.client.get("/v1/info")).text())
    receipt = tmp_path / "receipt.json"
    receipt.write_text(await (await service.client.get(accepted[0]["links"]["receipt"])).text())
    code, out, err = await exchange("verify", "--receipt", str(receipt), "--info", str(info), *both, "--quorum", "1")
    assert code == 0, out + err
    code, out, err = await exchange("verify", "--receipt", str(receipt), "--info", str(info), "--witness", absent)
    assert code == 1 and "absent.test/witness" in out, out + err
    code, out, err = await exchange("verify", "--receipt", str(receipt), "--info", str(info), "--quorum", "1")
    assert code == 2 and "--witness" in err, out + err


async def test_follow_trusts_only_checkpoints_with_the_witness_quorum(nodes: Nodes, tmp_path: Path) -> None:
    from tests.e2e.test_verify import exchange, url_of

    service = nodes.repository
    accepted = await _accept(service, 2, "f")
    await nodes.cosigned_checkpoint(accepted[-1]["log_index"] + 1)
    url = url_of(service)
    code, out, err = await exchange(
        "follow", url, "--out", str(tmp_path / "copy"), "--once", "--mode", "pull", "--witness", nodes.witness_vkey
    )
    assert code == 0, out + err
    assert "2 change(s) verified and written" in err

    absent = WitnessSigner("absent.test/witness", Ed25519PrivateKey.generate()).vkey
    both = ("--witness", nodes.witness_vkey, "--witness", absent, "--quorum", "2")
    code, out, err = await exchange("follow", url, "--out", str(tmp_path / "other"), "--once", "--mode", "pull", *both)
    assert code == 1, out + err
    assert "lacks the witness quorum" in err and "no cosignature by absent.test/witness" in err
    assert not (tmp_path / "other" / "changes.ndjson").read_text()  # nothing unwitnessed was kept
    code, out, err = await exchange("follow", url, "--out", str(tmp_path / "x"), "--quorum", "1")
    assert code == 2 and "--witness" in err, out + err


async def test_a_mirror_takes_only_checkpoints_its_witness_quorum_cosigned(nodes: Nodes, tmp_path: Path) -> None:
    """Three nodes: the repository, its witness, and a mirror that requires the witness's cosignature
    (and, in a second run, an impostor's, which never comes: it waits and says whose is missing)."""
    service = nodes.repository
    verdicts = await _accept(service, 2, "m")
    await nodes.cosigned_checkpoint(verdicts[-1]["log_index"] + 1)
    upstream = str(service.client.make_url("")).rstrip("/")
    mirror = await _start(
        tmp_path / "mirror", origin="https://mirror.test", mirror_of=upstream, mirror_interval=0.05,
        mirror_witnesses=(nodes.witness_vkey,),
    )  # fmt: skip
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            info = (await (await mirror.get("/v1/info")).json())["mirror"]
            if info["seq"] == verdicts[-1]["seq"]:
                break
            assert asyncio.get_running_loop().time() < deadline, info
            await asyncio.sleep(0.05)
        note = await (await mirror.get("/v1/log/checkpoint")).text()
        names = {c.name for c in check_quorum(note, [nodes.witness_vkey, info_vkey(info)], 2)}
        assert names == {"witness.test/witness", "mirror.test/mirror"}  # the witness's and its own
    finally:
        await mirror.close()
    waiting = await _start(
        tmp_path / "mirror2", origin="https://mirror2.test", mirror_of=upstream, mirror_interval=0.05,
        mirror_witnesses=(nodes.witness_vkey, IMPOSTOR),
    )  # fmt: skip
    try:
        for _ in range(200):
            info = (await (await waiting.get("/v1/info")).json())["mirror"]
            if info["waiting"]:
                break
            await asyncio.sleep(0.05)
        assert "no cosignature by impostor.test/witness" in info["waiting"], info
        assert (info["size"], info["seq"]) == (0, 0)
    finally:
        await waiting.close()


def info_vkey(info: dict[str, Any]) -> str:
    return str(info["cosigner"]["verifier_key"])


async def test_four_nodes_a_state_submits_through_the_regional_hub_and_reads_the_cosigned_copy(
    nodes: Nodes, tmp_path: Path
) -> None:
    """Central, its witness, and a regional node that relays to central and mirrors it (taking only
    checkpoints the witness cosigned): a State's submission goes out through the hub and comes back in
    the regional copy, byte for byte, under a checkpoint both the witness and the mirror cosigned."""
    service = nodes.repository
    central = str(service.client.make_url("")).rstrip("/")
    origin = service.services.settings.public_origin
    settings = make_settings(
        tmp_path / "regional", origin="https://regional.test", mirror_of=central, mirror_interval=0.05,
        mirror_witnesses=(nodes.witness_vkey,), relay_upstreams=(f"{origin}={central}",), relay_max_backoff=0.2,
    )  # fmt: skip
    regional: TestClient[Any, Any] = TestClient(
        TestServer(create_app(settings, background=[deliver.run, forwarder.run]))
    )
    await regional.start_server()
    try:
        record_id, record = example_for("law", "GBR")
        signed = service.signer.submission(record, record_id=f"{record_id}-relayed")
        posted = await regional.post("/v1/submissions", data=signed, headers={"Content-Type": FLATTENED_MEDIA_TYPE})
        assert posted.status == 202, await posted.text()
        path = f"/v1/records/GBR/law/{record_id}-relayed"
        deadline = asyncio.get_running_loop().time() + 60
        while (await regional.get(path)).status != 200:
            assert asyncio.get_running_loop().time() < deadline, await (await regional.get("/v1/info")).text()
            await asyncio.sleep(0.05)
        assert await (await regional.get(path)).read() == await (await service.client.get(path)).read()
        info = (await (await regional.get("/v1/info")).json())["mirror"]
        note = await (await regional.get("/v1/log/checkpoint")).text()
        names = {c.name for c in check_quorum(note, [nodes.witness_vkey, info["cosigner"]["verifier_key"]], 2)}
        assert names == {"witness.test/witness", "regional.test/mirror"}
    finally:
        await regional.close()
