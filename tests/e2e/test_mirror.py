"""A mirror node over HTTP on each stack: an upstream repository and a mirror of it, both real apps.

The mirror must serve byte for byte what the upstream serves to the same reader (records, versions,
the feed with its seqs, stored JWS, keys, log entries and proofs), add its own cosignature to the
upstream's checkpoints, refuse writes, catch up after being down, be followed by ``exchange follow``
like the upstream, and stop following (while still serving) an upstream that rewrites its history.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange import admin
from exchange.gateway.app import create_app
from exchange.gateway.appkeys import SERVICES
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.relay import forwarder
from exchange.services import Services
from exchange.transparency.cosignature import check_quorum
from exchange.transparency.merkle import root_nodes
from exchange.transparency.note import NoteSigner, checkpoint_body, sign_many
from tests.conftest import backend_overrides
from tests.e2e.conftest import Service
from tests.e2e.test_verify import exchange, url_of
from tests.support import Signer, example, make_settings, variant
from workers import deliver


@contextlib.asynccontextmanager
async def mirror_of(service: Service, tmp_path: Path, stack: str, **extra: Any) -> AsyncIterator[dict[str, Any]]:
    """The settings of a mirror of ``service`` with a database of its own (kept between its runs)."""
    scale_out = stack == "scale-out"
    async with backend_overrides(
        "postgresql" if scale_out else "sqlite", "rabbitmq" if scale_out else "sqlite"
    ) as overrides:
        yield {
            **overrides,
            "origin": "https://mirror.test",
            "mirror_of": url_of(service),
            "mirror_interval": 0.05,
            **extra,
        }


@contextlib.asynccontextmanager
async def running(tmp_path: Path, settings: dict[str, Any]) -> AsyncIterator[tuple[TestClient[Any, Any], Services]]:
    """A mirror node as ``exchange mirror`` runs it (webhooks and the relay's forwarder beside it)."""
    app = create_app(make_settings(tmp_path / "mirror", **settings), background=[deliver.run, forwarder.run])
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, app[SERVICES]
    finally:
        await client.close()


async def caught_up(service: Service, mirror: TestClient[Any, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Wait until the mirror holds the upstream's whole log and feed; its ``mirror`` info then."""
    size = await service.services.repository.log_size()
    await service.services.log.checkpoint()  # the upstream signs its newest size
    seq = await service.services.repository.last_seq()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = (await (await mirror.get("/v1/info")).json())["mirror"]
        if (info["size"], info["seq"]) == (size, seq) or asyncio.get_running_loop().time() > deadline:
            assert (info["size"], info["seq"]) == (size, seq), info
            return dict(info)
        await asyncio.sleep(0.05)


async def body(client: TestClient[Any, Any], path: str, **params: Any) -> bytes:
    response = await client.get(path, params=params)
    assert response.status == 200, (path, await response.text())
    return await response.read()


async def publish(service: Service, start: int = 0, count: int = 3) -> list[dict[str, Any]]:
    _, law = example("law", "gbr-computer-misuse-act-1990")
    law = {k: v for k, v in law.items() if k != "identifiers"}
    states = []
    for n in range(start, start + count):
        states.append(await service.submit_and_wait(service.signer.submission(variant(law, n), record_id=f"law-{n}")))
    return states


async def test_the_mirror_serves_what_the_upstream_serves_byte_for_byte(
    service: Service, tmp_path: Path, stack: str
) -> None:
    states = await publish(service)
    _, law = example("law", "gbr-computer-misuse-act-1990")
    law = {k: v for k, v in law.items() if k != "identifiers"}
    withdrawn = await service.submit_and_wait(
        service.signer.submission(None, record_id="law-0", action="withdraw", schema="law/1")
    )
    secret = await service.submit_and_wait(
        service.signer.submission(variant(law, 9), record_id="secret", visibility="restricted")
    )
    assert {s["status"] for s in [*states, withdrawn, secret]} == {"accepted"}
    async with mirror_of(service, tmp_path, stack) as settings, running(tmp_path, settings) as (mirror, _):
        info = await caught_up(service, mirror)
        assert (info["behind"], info["stopped"], info["upstream"]) == (0, None, url_of(service))
        upstream = service.client
        size = await service.services.repository.log_size()
        for path, params in (
            ("/v1/records", {"limit": "500"}),
            ("/v1/records", {"q": "Misuse"}),
            ("/v1/changes", {"include": "record,jws"}),
            ("/v1/changes", {"since": "2", "limit": "2"}),
            ("/v1/keys", {}),
            ("/v1/participants", {}),
            ("/v1/log/entries", {"start": "0", "end": str(size)}),
            ("/v1/log/proof/consistency", {"old": "2", "new": str(size)}),
            ("/records/GBR/law/law-1", {}),  # the portal's page (which names the node's own origin)
        ):
            mine = (await body(mirror, path, **params)).replace(b"https://mirror.test", b"https://repository.test")
            assert mine == await body(upstream, path, **params), path
        for state in [*states, withdrawn]:
            record = f"/v1/records/{state['record']}"
            for path in (f"{record}/versions", f"{record}/versions/{state['version']}"):
                assert await body(mirror, path) == await body(upstream, path), path
            jws = f"/v1/submissions/GBR/{state['submission_id']}/jws"
            assert await body(mirror, jws) == await body(upstream, jws)
            receipt = f"/v1/submissions/GBR/{state['submission_id']}/receipt"
            mine, theirs = await (await mirror.get(receipt)).json(), await (await upstream.get(receipt)).json()
            for name in ("log_index", "entry", "inclusion_proof"):
                assert mine[name] == theirs[name], name
            assert mine["checkpoint"].startswith(theirs["checkpoint"])
            proof = {"index": str(state["log_index"]), "size": str(size)}
            assert await body(mirror, "/v1/log/proof/inclusion", **proof) == await body(
                upstream, "/v1/log/proof/inclusion", **proof
            )
        # the restricted record is not in the mirror's copy: its change keeps its seq as a placeholder
        assert (await mirror.get(f"/v1/records/{secret['record']}")).status == 404
        changes = (await (await mirror.get("/v1/changes")).json())["results"]
        assert changes[-1] == {"seq": secret["seq"], "hidden": True}
        # the upstream's checkpoint, with the mirror's cosignature beside its signature
        mirror_info = await (await mirror.get("/v1/info")).json()
        upstream_info = await (await upstream.get("/v1/info")).json()
        for name in ("origin", "log_origin", "log_verifier_key"):
            assert mirror_info[name] == upstream_info[name]
        note = (await body(mirror, "/v1/log/checkpoint")).decode()
        [signed] = (await (await upstream.get("/v1/log/checkpoints", params={"after": size - 1})).json())["checkpoints"]
        assert note.startswith(signed["note"]) and note != signed["note"]
        cosigner = mirror_info["mirror"]["cosigner"]
        assert [c.name for c in check_quorum(note, [cosigner["verifier_key"]], 1)] == [cosigner["name"]]
        # read-only: submissions and registry changes go to the upstream
        refused = await mirror.post("/v1/submissions", data=service.signer.submission(law, record_id="x"))
        assert refused.status == 403 and "read-only mirror" in (await refused.json())["detail"]
        # and `exchange follow` verifies the mirror as it verifies the upstream
        code, out, err = await exchange(
            "follow", str(mirror.make_url("")).rstrip("/"), "--out", str(tmp_path / "f"), "--once"
        )
        assert code == 0, out + err
        assert sorted(p.name for p in (tmp_path / "f" / "GBR" / "law").iterdir()) == ["law-1.json", "law-2.json"]


async def test_a_mirror_catches_up_after_being_down(service: Service, tmp_path: Path, stack: str) -> None:
    await publish(service, 0, 2)
    async with mirror_of(service, tmp_path, stack) as settings:
        async with running(tmp_path, settings) as (mirror, _):
            await caught_up(service, mirror)
        await publish(service, 2, 3)  # while the mirror is down
        async with running(tmp_path, settings) as (mirror, _):
            info = await caught_up(service, mirror)
            assert info["seq"] == 5
            listed = await (await mirror.get("/v1/records", params={"limit": "100"})).json()
            assert len(listed["results"]) == 5


async def test_a_mirror_takes_a_large_log_in_steps(service: Service, tmp_path: Path, stack: str) -> None:
    await publish(service, 0, 6)
    async with mirror_of(service, tmp_path, stack, mirror_step=2) as settings, running(tmp_path, settings) as (m, _):
        await caught_up(service, m)
        assert await body(m, "/v1/changes", include="record,jws") == await body(
            service.client, "/v1/changes", include="record,jws"
        )


@pytest.mark.parametrize("stack", ["embedded"])
async def test_a_mirror_stops_following_an_upstream_that_rewrites_its_history(
    service: Service, tmp_path: Path, stack: str
) -> None:
    await publish(service, 0, 2)
    async with mirror_of(service, tmp_path, stack) as settings:
        async with running(tmp_path, settings) as (mirror, _):
            await caught_up(service, mirror)
            # the upstream rewrites the history it already showed (the subtree its next entries build on),
            # then grows
            path = service.services.settings.sqlite_path
            assert path is not None
            level, index = root_nodes(await service.services.repository.log_size())[0]
            with sqlite3.connect(path, isolation_level=None) as conn:
                sql = "UPDATE log_nodes SET hash = zeroblob(32) WHERE level = ? AND idx = ?"
                assert conn.execute(sql, (level, index)).rowcount == 1
            await publish(service, 2, 1)
            await service.services.log.checkpoint()
            for _ in range(200):
                info = (await (await mirror.get("/v1/info")).json())["mirror"]
                if info["stopped"]:
                    break
                await asyncio.sleep(0.05)
            assert "rewrote its history" in info["stopped"], info
            ready = await mirror.get("/readyz")
            assert ready.status == 503 and "stopped following" in (await ready.json())["checks"]["mirror"]
            # it keeps serving the last verified state
            assert (await mirror.get("/v1/records/GBR/law/law-1")).status == 200
            assert (await mirror.get("/v1/records/GBR/law/law-2")).status == 404
        code, out, err = await exchange(
            "mirror", url_of(service), "--once", env={"EXCHANGE_DATA_DIR": str(tmp_path / "mirror")}
        )
        assert code == 1, out + err
        assert "rewrote its history" in err


async def test_a_regional_node_mirrors_the_central_repository_and_relays_to_it(
    service: Service, tmp_path: Path, stack: str
) -> None:
    central, origin = url_of(service), service.services.settings.public_origin
    _, law = example("law", "gbr-computer-misuse-act-1990")
    law = {k: v for k, v in law.items() if k != "identifiers"}
    relaying = {"relay_upstreams": (f"{origin}={central}",), "relay_max_backoff": 0.2}
    async with (
        mirror_of(service, tmp_path, stack, **relaying) as settings,
        running(tmp_path, settings) as (node, regional),
    ):
        headers = {"Content-Type": FLATTENED_MEDIA_TYPE}
        # a State signs for the central repository and sends it to the regional node, which relays it
        signed = service.signer.submission(variant(law, 1), record_id="relayed")
        posted = await node.post("/v1/submissions", data=signed, headers=headers)
        assert posted.status == 202, await posted.text()
        # signed for the regional node itself: refused, a mirror decides nothing
        own = Signer(service.signer.key, audience="https://mirror.test").submission(law, record_id="own")
        refused = await node.post("/v1/submissions", data=own, headers=headers)
        assert refused.status == 403 and "read-only mirror" in (await refused.json())["detail"]
        registry = await node.post(
            "/v1/admin/participants",
            json={"id": "FRA", "name": "France", "type": "member_state"},
            headers={"Authorization": f"Bearer {service.admin_token}"},
        )
        assert registry.status == 403
        # the central repository accepts it; the regional node's copy then holds it, byte for byte
        for _ in range(400):
            if (await service.client.get("/v1/records/GBR/law/relayed")).status == 200:
                break
            await asyncio.sleep(0.05)
        await caught_up(service, node)
        assert await body(node, "/v1/records/GBR/law/relayed") == await body(
            service.client, "/v1/records/GBR/law/relayed"
        )
        # its metrics: the relay's outbox and how far behind the mirror is
        token, _ = await admin.create_token(regional.repository, "auditor", None)
        metrics = await (await node.get("/metrics", headers={"Authorization": f"Bearer {token}"})).text()
        for line in (
            'exchange_relay_entries{state="forwarded"} 1.0',
            "exchange_mirror_behind_entries 0.0",
            "exchange_mirror_stopped 0.0",
        ):
            assert line in metrics.splitlines(), line


UPSTREAM_KEY = NoteSigner("up.test", Ed25519PrivateKey.generate())
SMALL = sign_many(checkpoint_body("up.test", 3, bytes(32)), [UPSTREAM_KEY])
#: A signed checkpoint of a log of 2**62 entries (a size no answer can back).
HUGE = sign_many(checkpoint_body("up.test", 2**62, bytes(32)), [UPSTREAM_KEY])
#: Each case: the answers that differ from a well-formed upstream's, and what the mirror must say.
HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "info without names": ({"/v1/info": {"origin": 7, "log_origin": None}}, "names no origin"),
    "a note that is no checkpoint": ({"/v1/log/checkpoint": "\x00" * 10}, "does not verify with its log key"),
    "a huge checkpoint size": (
        {"/v1/log/checkpoints": {"checkpoints": [{"size": 2**62, "note": HUGE}]}},
        "lists no checkpoint within",
    ),
    "entries that are not base64": (
        {"/v1/log/entries": {"entries": [{"index": 0, "entry": "!!\x00"}]}},
        "log entry 0 is not base64",
    ),
    "an entry index out of place": (
        {"/v1/log/entries": {"entries": [{"index": 10**30, "entry": ""}]}},
        "where 0 belongs",
    ),
    "an answer nested past any depth": (
        {"/v1/log/entries": {"entries": [[[[[[[[[[]]]]]]]]]] * 1000}},
        "where 0 belongs",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_hostile_upstream_never_brings_the_mirror_down(tmp_path: Path, case: str) -> None:
    """Answers no repository would give: the mirror says it cannot follow (stopped or waiting) and
    keeps answering its own readers; nothing it was shown is stored."""
    from aiohttp import web

    good_info = {"origin": "https://up.test", "log_origin": "up.test", "log_verifier_key": UPSTREAM_KEY.verifier_key}
    answers: dict[str, Any] = {
        "/v1/info": good_info,
        "/v1/log/checkpoint": SMALL,
        "/v1/log/checkpoints": {"checkpoints": []},
        **HOSTILE[case][0],
    }

    async def answer(request: web.Request) -> web.Response:
        found = answers.get(request.path)
        if found is None:
            return web.json_response({"title": "not found"}, status=404)
        if isinstance(found, str):
            return web.Response(text=found)
        return web.json_response(found)

    upstream_app = web.Application()
    upstream_app.router.add_get("/{tail:.*}", answer)
    upstream = TestClient(TestServer(upstream_app))
    await upstream.start_server()
    try:
        settings = {"origin": "https://mirror.test", "mirror_of": str(upstream.make_url("")).rstrip("/"),
                    "mirror_interval": 0.05}  # fmt: skip
        async with running(tmp_path, settings) as (mirror, services):
            assert services.mirror is not None
            for _ in range(200):
                info = await mirror.get("/v1/info")
                assert info.status == 200
                state = (await info.json())["mirror"]
                if state["stopped"] or state["waiting"]:
                    break
                await asyncio.sleep(0.05)
            assert HOSTILE[case][1] in (state["stopped"] or state["waiting"]), state
            assert state["size"] == 0 and await services.repository.log_size() == 0
            assert (await mirror.get("/v1/records")).status == 200
    finally:
        await upstream.close()
