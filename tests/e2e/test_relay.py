"""A hub relays a State's submissions to the central repository they are signed for: real processes.

The central repository and the hub are two ``exchange serve`` processes on loopback. What the hub
answers ``202`` arrives at the central repository as the exact signed bytes, exactly once and in order
per record, though the central repository is down for a while and the hub restarts meanwhile; the
submitter reads the central repository's acknowledgment from the hub's status.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.publickeys import b64url_decode
from exchange.relay.outbox import FILE_NAME
from tests.e2e.process import Server, environment, exchange
from tests.support import Signer, example_for, variant


@dataclass
class Federation:
    central: Server
    hub: Server
    signer: Signer
    central_token: str
    hub_token: str
    tmp: Path


def _register(server: Server, key: SigningKey, tmp: Path) -> str:
    """Register GBR and its key on ``server``'s data (offline); return a GBR participant token."""
    jwk = tmp / "key.jwk"
    jwk.write_text(json.dumps(key.public_jwk))
    env = server.env
    add = ("participant", "add", "GBR", "--name", "United Kingdom", "--type", "member_state")
    exchange("admin", "--init", *add, env=env, check=True)
    exchange("admin", "key", "add", key.kid, "--public-key", str(jwk), env=env, check=True)
    created = exchange("admin", "token", "create", "--role", "participant", "--participant", "GBR", env=env, check=True)
    return created.stdout.strip()


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    key = SigningKey.generate("GBR/2026-01")
    central = Server(environment(tmp_path / "central"))
    central.env["EXCHANGE_ORIGIN"] = central.url
    central_token = _register(central, key, tmp_path)
    hub = Server(
        environment(
            tmp_path / "hub",
            relay_upstreams=f"{central.url}={central.url}",
            relay_max_backoff="0.5",
            relay_timeout="5",
        )
    )
    hub.env["EXCHANGE_ORIGIN"] = hub.url
    hub_token = _register(hub, key, tmp_path)  # the State reads its statuses on the hub with its own token
    central.start()
    hub.start()
    try:
        yield Federation(central, hub, Signer(key, audience=central.url), central_token, hub_token, tmp_path)
    finally:
        hub.stop()
        central.stop()


async def _post(url: str, body: bytes) -> tuple[int, dict[str, Any], str | None]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/submissions", data=body, headers={"Content-Type": FLATTENED_MEDIA_TYPE}) as response,
    ):
        return response.status, await response.json(content_type=None), response.headers.get("Location")


async def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as session, session.get(url) as response:
        raw = await response.read()
        return response.status, raw


async def _status(server: Server, token: str, sid: str, until: set[str], timeout: float = 30.0) -> dict[str, Any]:
    """The submission's status on ``server`` once it is one of ``until``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code, raw = await _get(f"{server.url}/v1/submissions/GBR/{sid}", token)
        body = json.loads(raw) if code == 200 else {"status": None, "code": code}
        if body["status"] in until:
            return dict(body)
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


def _ack_payload(ack: dict[str, str]) -> dict[str, Any]:
    """What a (flattened JWS) acknowledgment says."""
    decoded: dict[str, Any] = json.loads(b64url_decode(ack["payload"]))
    return decoded


async def _versions(central: Server, record_id: str) -> list[str]:
    code, raw = await _get(f"{central.url}/v1/records/GBR/law/{record_id}/versions")
    assert code == 200, raw
    return [v["provenance"]["submission_id"] for v in json.loads(raw)["versions"]]


async def test_the_hub_relays_the_exact_bytes_once_and_in_order_through_outages_and_restarts(
    federation: Federation,
) -> None:
    central, hub, signer = federation.central, federation.hub, federation.signer
    record_id, record = example_for("law", "GBR")
    bodies = [signer.submission(variant(record, n), record_id=record_id) for n in range(4)]
    ids = list(signer.sent)

    # Relayed at once while the central repository is up; the submitter reads its acknowledgment.
    code, answer, location = await _post(hub.url, bodies[0])
    assert code == 202, answer
    assert location == f"/v1/submissions/GBR/{ids[0]}" and answer["links"]["status"] == location
    assert answer["status"] in ("relaying", "forwarded") and answer["relay"]["upstream"] == central.url
    forwarded = await _status(hub, federation.hub_token, ids[0], {"forwarded"})
    ack = _ack_payload(forwarded["acknowledgment"])
    assert ack["submission_id"] == ids[0] and ack["audience"] == central.url  # the central repository's own
    assert forwarded["relay"]["upstream_status"] == 202
    assert forwarded["links"]["upstream_status"] == f"{central.url}/v1/submissions/GBR/{ids[0]}"

    # The central repository goes down: the hub still takes submissions for it (keys it already read).
    central.stop()
    for body in bodies[1:3]:
        code, answer, _ = await _post(hub.url, body)
        assert code == 202 and answer["status"] == "relaying", answer
    waiting = await _status(hub, federation.hub_token, ids[1], {"relaying"})
    assert waiting["relay"]["upstream"] == central.url

    # The hub restarts with them in its outbox, and takes one more from the key directory it kept.
    hub.stop()
    hub.start()
    code, answer, _ = await _post(hub.url, bodies[3])
    assert code == 202 and answer["status"] == "relaying", answer

    # The central repository comes back: everything arrives, byte for byte, once, in order.
    central.start()
    for sid in ids:
        await _status(hub, federation.hub_token, sid, {"forwarded"})
        verdict = await _status(central, federation.central_token, sid, {"accepted", "rejected"})
        assert verdict["status"] == "accepted", verdict
    for sid, body in zip(ids, bodies, strict=True):
        code, stored = await _get(f"{central.url}/v1/submissions/GBR/{sid}/jws")
        assert code == 200 and stored == body
    assert await _versions(central, record_id) == ids

    # Exactly once: the same bytes again, to the hub or straight to the central repository, change nothing.
    code, answer, _ = await _post(hub.url, bodies[1])
    assert code == 202 and answer["status"] == "forwarded", answer
    code, answer, _ = await _post(central.url, bodies[1])
    assert code == 202 and answer["status"] == "accepted", answer
    assert await _versions(central, record_id) == ids


async def test_a_lost_answer_is_sent_again_and_applied_once(federation: Federation) -> None:
    central, hub, signer = federation.central, federation.hub, federation.signer
    record_id, record = example_for("law", "GBR")
    body = signer.submission(record, record_id=record_id)
    sid = signer.sent[-1]
    assert (await _post(hub.url, body))[0] == 202
    first = await _status(hub, federation.hub_token, sid, {"forwarded"})
    await _status(central, federation.central_token, sid, {"accepted"})

    # As if the hub had crashed after sending, before it kept the answer: it sends the bytes again.
    hub.kill()
    with sqlite3.connect(Path(hub.env["EXCHANGE_DATA_DIR"]) / FILE_NAME) as db:
        db.execute("UPDATE relay_entries SET state = 'relaying', answer = NULL, location = NULL")
    hub.start()
    again = await _status(hub, federation.hub_token, sid, {"forwarded"})
    assert again["relay"]["attempts"] == 2
    assert _ack_payload(again["acknowledgment"])["jws_sha256"] == _ack_payload(first["acknowledgment"])["jws_sha256"]
    assert again["relay"]["answer"]["status"] == "accepted"  # the first outcome, answered again
    assert await _versions(central, record_id) == [sid]


async def test_the_hub_refuses_what_it_cannot_relay(federation: Federation) -> None:
    hub, signer = federation.hub, federation.signer
    record_id, record = example_for("law", "GBR")

    elsewhere = Signer(signer.key, audience="https://elsewhere.test")
    code, problem, _ = await _post(hub.url, elsewhere.submission(record, record_id=record_id))
    assert code == 422 and problem["errors"][0]["pointer"] == "/audience", problem
    assert "'https://elsewhere.test'" in problem["detail"] and federation.central.url in problem["detail"]

    stranger = Signer(SigningKey.generate("GBR/2099-01"), audience=federation.central.url)
    code, problem, _ = await _post(hub.url, stranger.submission(record, record_id=record_id))
    assert code == 401 and problem["type"].endswith("unknown-key"), problem

    forged = json.loads(signer.submission(record, record_id=record_id))
    forged["signature"] = forged["signature"][::-1]
    code, problem, _ = await _post(hub.url, json.dumps(forged).encode())
    assert code in (400, 401) and problem["status"] == code, problem

    taken = signer.payload(record, record_id=record_id)
    assert (await _post(hub.url, signer.sign_payload(taken)))[0] == 202
    code, problem, _ = await _post(hub.url, signer.sign_payload({**taken, "record_id": f"{record_id}-other"}))
    assert code == 409 and problem["type"].endswith("submission-conflict"), problem

    # What only the upstream can check (here a stale base_version) comes back as its problem.
    code, answer, _ = await _post(hub.url, signer.submission(record, record_id=f"{record_id}-new", base_version=7))
    assert code == 202, answer
    refused = await _status(hub, federation.hub_token, signer.sent[-1], {"refused"})
    assert refused["relay"]["upstream_status"] == 409, refused
    assert refused["relay"]["problem"]["type"].endswith("version-conflict") and "acknowledgment" not in refused

    code, problem, _ = await _post(hub.url, b"{not json")
    assert code == 400 and problem["type"].endswith("malformed-jws"), problem
    stale = signer.submission(record, record_id=record_id, created_at="2020-01-01T00:00:00Z")
    code, problem, _ = await _post(hub.url, stale)
    assert code == 422 and problem["errors"][0]["pointer"] == "/created_at", problem


def test_exchange_submit_signs_for_the_upstream_and_reports_the_relay(federation: Federation) -> None:
    record_id, record = example_for("law", "GBR")
    (federation.tmp / "law.json").write_text(json.dumps(record))
    (federation.tmp / "key.pem").write_bytes(federation.signer.key.private_pem())
    hub, central = federation.hub, federation.central
    common = ("--kid", "GBR/2026-01", "--key", str(federation.tmp / "key.pem"), "--kind", "law")
    result = exchange(
        "submit", str(federation.tmp / "law.json"), "--url", hub.url, *common, "--record-id", record_id,
        "--audience", central.url, "--token", federation.hub_token, env=hub.env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"forwarded GBR/law/{record_id} to {central.url}; its status: {central.url}/v1/submissions/GBR/" in (
        result.stdout
    )


async def test_the_batch_endpoint_relays_each_line_as_the_single_one_does(federation: Federation) -> None:
    hub, signer = federation.hub, federation.signer
    record_id, record = example_for("law", "GBR")
    lines = [signer.submission(variant(record, n), record_id=f"{record_id}-batch{n}") for n in range(2)]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            hub.url + "/v1/submissions:batch",
            data=b"\n".join(lines) + b"\n",
            headers={"Content-Type": "application/x-ndjson", "Accept": "application/json"},
        ) as response,
    ):
        assert response.status == 207
        results = (await response.json())["results"]
    assert [r["status"] for r in results] == [202, 202], results
    assert all(r["body"]["relay"]["upstream"] == federation.central.url for r in results)
    for sid, line in zip(signer.sent, lines, strict=True):
        await _status(federation.central, federation.central_token, sid, {"accepted"})
        assert (await _get(f"{federation.central.url}/v1/submissions/GBR/{sid}/jws"))[1] == line
