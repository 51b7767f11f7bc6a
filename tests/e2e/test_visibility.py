"""Visibility of record versions, over HTTP on each stack.

GBR publishes three laws: one public, one for participants (any token), one restricted to FRA. Every
read route (records, search, versions, stored JWS, receipts, the change feed as pages, long polls and
an event stream, the aggregates, the audit export, webhooks, the follower and the portal's pages) is
requested with every kind of reader, and each answer must hold exactly what that reader may see: the
title and the signature of a version it may not see never appear, and one it may see does.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exchange import admin, times
from tests.e2e.conftest import Service, register
from tests.e2e.receiver import receiver
from tests.e2e.test_changes import read_events
from tests.e2e.test_verify import exchange, url_of
from tests.portal.test_account import form_csrf
from tests.support import example

pytestmark = pytest.mark.settings(webhooks_allow_private=True, origin="http://repository.test")

LEVELS = ("public", "participants", "restricted")
#: Who may see a version of each level, by reader.
MAY_SEE = {
    "anonymous": {"public"},
    "subscriber": {"public", "participants"},
    "outsider": {"public", "participants"},  # a participant not named as a reader
    "reader": set(LEVELS),  # FRA, named
    "owner": set(LEVELS),  # GBR
    "editor": set(LEVELS),
    "auditor": set(LEVELS),
    "admin": set(LEVELS),
}


@dataclass
class Published:
    level: str
    record_id: str
    submission_id: str
    marker: str  # in the title
    signature: str  # the JWS signature: in any answer that carries the stored JWS

    @property
    def path(self) -> str:
        return f"/v1/records/GBR/law/{self.record_id}"

    def leaks(self) -> tuple[str, str]:
        return (self.marker, self.signature)


@dataclass
class World:
    service: Service
    published: dict[str, Published]
    tokens: dict[str, str | None]

    def headers(self, reader: str) -> dict[str, str]:
        token = self.tokens[reader]
        return {"Authorization": f"Bearer {token}"} if token else {}

    def check(self, reader: str, route: str, text: str, levels: set[str] | None = None) -> None:
        """``text`` holds each version ``reader`` may see (of ``levels``) and no other."""
        allowed = MAY_SEE[reader]
        for level in levels or set(LEVELS):
            shown = self.published[level].marker in text
            assert shown == (level in allowed), f"{reader} on {route}: {level} version {'shown' if shown else 'hidden'}"
        for level in set(LEVELS) - allowed:
            for leak in self.published[level].leaks():
                assert leak not in text, f"{reader} on {route}: the {level} version leaks"


async def publish(service: Service) -> World:
    repository, validator = service.services.repository, service.services.validator
    for code in ("FRA", "DEU"):
        await admin.add_participant(repository, validator, code, f"{code} ministry", "member_state", [])
    await register(service.services, "org:secretariat", "secretariat")
    _, law = example("law", "gbr-computer-misuse-act-1990")
    published: dict[str, Published] = {}
    for level in LEVELS:
        marker = f"VIS{level.upper()}MARK"
        record = {k: v for k, v in law.items() if k != "identifiers"}
        record["title"] = {"original": {"lang": "en", "text": f"Computer Misuse Act 1990 {marker}"}}
        extra: dict[str, Any] = {} if level == "public" else {"visibility": level}
        if level == "restricted":
            extra["readers"] = ["FRA"]
        body = service.signer.submission(record, record_id=f"{level}-law", **extra)
        state = await service.submit_and_wait(body)
        assert state["status"] == "accepted", state
        signature = json.loads(body)["signature"]
        published[level] = Published(level, f"{level}-law", state["submission_id"], marker, signature)
    tokens: dict[str, str | None] = {"anonymous": None, "admin": service.admin_token, "owner": service.token}
    for reader, role, participant in (
        ("subscriber", "subscriber", "DEU"),
        ("outsider", "participant", "DEU"),
        ("reader", "participant", "FRA"),
        ("editor", "editor", "org:secretariat"),
        ("auditor", "auditor", None),
    ):
        tokens[reader], _ = await admin.create_token(repository, role, participant)
    return World(service, published, tokens)


async def text_of(world: World, reader: str, path: str, **params: Any) -> tuple[int, str]:
    response = await world.service.client.get(path, params=params, headers=world.headers(reader))
    return response.status, await response.text()


async def test_every_read_route_shows_each_reader_what_it_may_see(service: Service) -> None:
    world = await publish(service)
    head = await service.services.repository.last_seq()
    for reader, allowed in MAY_SEE.items():
        for route, params in (
            ("/v1/records", {}),
            ("/v1/records", {"q": "Misuse"}),
            ("/v1/records", {"kind": "law", "participant": "GBR"}),
            ("/v1/changes", {"include": "record,jws"}),
            ("/v1/changes", {"include": "record,jws", "feed": "longpoll", "timeout": "0"}),
            ("/v1/changes", {"include": "record", "participant": "GBR"}),
        ):
            status, text = await text_of(world, reader, route, **params)
            assert status == 200, (reader, route, text)
            world.check(reader, f"{route}?{params}", text)
        page = json.loads((await text_of(world, reader, "/v1/changes", include="record"))[1])
        # the feed stays dense: a change the reader may not see is a placeholder with its seq alone
        assert [c["seq"] for c in page["results"]] == list(range(1, head + 1))
        hidden = [c for c in page["results"] if c.get("hidden")]
        assert all(set(c) == {"seq", "hidden"} for c in hidden)
        assert len(hidden) == len(set(LEVELS) - allowed)
        events, _ = await read_events(service, head, headers=world.headers(reader), include="record,jws")
        assert [e["seq"] for e in events] == list(range(1, head + 1))
        world.check(reader, "event stream", json.dumps(events))
        for level, item in world.published.items():
            visible = level in allowed
            for path in (item.path, f"{item.path}/versions", f"{item.path}/versions/1"):
                status, text = await text_of(world, reader, path)
                assert status == (200 if visible else 404), (reader, path, text)
                world.check(reader, path, text, {level})
            jws = f"/v1/submissions/GBR/{item.submission_id}/jws"
            status, text = await text_of(world, reader, jws)
            assert status == (200 if visible else 404), (reader, jws)
            assert (item.signature in text) == visible
            status, _ = await text_of(world, reader, f"/v1/submissions/GBR/{item.submission_id}/receipt")
            assert status == (200 if visible else 404), (reader, "receipt")


async def test_aggregates_count_public_versions_only_and_auditors_export_everything(service: Service) -> None:
    world = await publish(service)
    today = times.now().date().isoformat()
    for reader in MAY_SEE:
        for route, params in (
            ("/v1/coverage/GBR", {}),
            ("/v1/report", {"from": today, "to": today, "format": "json"}),
            ("/v1/coordination", {"jurisdiction": "GBR"}),
            ("/changes.atom", {}),
            ("/", {}),
            ("/countries/GBR", {}),
        ):
            status, text = await text_of(world, reader, route, **params)
            assert status == 200, (reader, route, text[:300])
            for level in ("participants", "restricted"):
                for leak in world.published[level].leaks():
                    assert leak not in text, f"{reader} on {route}: the {level} version leaks into a public aggregate"
    status, atom = await text_of(world, "anonymous", "/changes.atom")
    assert world.published["public"].marker in atom
    report = json.loads((await text_of(world, "anonymous", "/v1/report", **{"from": today, "to": today}))[1])
    assert report["records"] == [{"region": "Europe", "kind": "law", "added": 1, "updated": 0}]
    for reader in MAY_SEE:
        status, text = await text_of(world, reader, "/v1/audit/export", format="ndjson")
        if reader in ("auditor", "admin"):
            assert status == 200
            world.check(reader, "audit export", text)
        else:
            assert status in (401, 403), (reader, status)


async def test_webhooks_deliver_to_each_subscriber_what_it_may_see(service: Service) -> None:
    await publish(service)
    head = await service.services.repository.last_seq()
    subscribers = {
        "reader": (await admin.create_token(service.services.repository, "subscriber", "FRA"))[0],
        "outsider": (await admin.create_token(service.services.repository, "subscriber", "DEU"))[0],
    }
    async with receiver() as fra, receiver() as deu:
        subs = {}
        for reader, hook in (("reader", fra), ("outsider", deu)):
            response = await service.client.post(
                "/v1/subscriptions",
                json={"url": hook.url, "since": 0},
                headers={"Authorization": f"Bearer {subscribers[reader]}"},
            )
            assert response.status == 201, await response.text()
            subs[reader] = (await response.json())["id"]
        deliveries = {"reader": await fra.wait_for(3), "outsider": await deu.wait_for(2)}
        for reader, hook in (("reader", fra), ("outsider", deu)):
            auth = {"Authorization": f"Bearer {subscribers[reader]}"}
            for _ in range(100):  # the subscription passes over what it may not see: its cursor reaches the head
                shown = await (await service.client.get(f"/v1/subscriptions/{subs[reader]}", headers=auth)).json()
                if shown["cursor"] == head:
                    break
                await asyncio.sleep(0.05)
            assert shown["cursor"] == head
            events = [json.loads(d.body)["data"] for d in hook.accepted()]
            assert len(events) == len(deliveries[reader]) == len(MAY_SEE[reader])
            for level in LEVELS:
                shown_title = any(e["record"] == f"GBR/law/{level}-law" for e in events)
                assert shown_title == (level in MAY_SEE[reader]), (reader, level)
        restricted = next(json.loads(d.body)["data"] for d in fra.accepted() if "restricted" in d.body.decode())
        assert (restricted["visibility"], restricted["readers"]) == ("restricted", ["FRA", "GBR"])


async def test_the_follower_keeps_a_dense_copy_and_verify_checks_the_signed_visibility(
    service: Service, tmp_path: Path, stack: str
) -> None:
    world = await publish(service)
    journal = tmp_path / "public.ndjson"
    code, out, err = await exchange("follow", url_of(service), "--out", str(journal), "--once", "--mode", "pull")
    assert code == 0, out + err
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert [line.get("hidden", False) for line in lines] == [False, True, True]
    assert world.published["public"].marker in journal.read_text()
    folder = tmp_path / "fra"
    code, out, err = await exchange(
        "follow", url_of(service), "--out", str(folder), "--once", "--token", str(world.tokens["reader"])
    )
    assert code == 0, out + err
    assert sorted(p.name for p in (folder / "GBR" / "law").iterdir()) == [
        "participants-law.json",
        "public-law.json",
        "restricted-law.json",
    ]
    code, out, err = await exchange("verify", url_of(service), "--token", str(world.tokens["auditor"]), "--quiet")
    assert code == 0, out + err
    if stack != "embedded":
        return
    # a repository that shows a restricted version as public is caught: the payload signed otherwise
    path = service.services.settings.sqlite_path
    assert path is not None
    with sqlite3.connect(path, isolation_level=None) as conn:
        changed = conn.execute(
            "UPDATE record_versions SET visibility = 'public', readers = NULL WHERE record_id = 'restricted-law'"
        ).rowcount
    assert changed == 1
    code, out, err = await exchange("verify", url_of(service), "--token", str(world.tokens["auditor"]), "--quiet")
    assert code == 1, out + err
    assert "it is shown as public, but submission GBR/" in out and "signed restricted ['FRA', 'GBR']" in out


async def test_the_portal_shows_a_signed_in_reader_what_it_may_see(service: Service) -> None:
    world = await publish(service)
    client = service.client
    for reader in MAY_SEE:
        client.session.cookie_jar.clear()
        if world.tokens[reader] is not None:
            csrf = await form_csrf(world, "/signin")  # type: ignore[arg-type]
            signed_in = await client.post(
                "/signin", data={"csrf": csrf, "token": world.tokens[reader], "next": "/me"}, allow_redirects=False
            )
            assert signed_in.status == 303, await signed_in.text()
        for route in ("/search?q=Misuse", "/changes", "/search"):
            response = await client.get(route)
            assert response.status == 200
            world.check(reader, route, await response.text())
        for level, item in world.published.items():
            response = await client.get(f"/records/GBR/law/{item.record_id}")
            visible = level in MAY_SEE[reader]
            assert response.status == (200 if visible else 404), (reader, level)
            text = await response.text()
            world.check(reader, f"record page {level}", text, {level})
            if visible and level == "restricted":
                assert "restricted: FRA, GBR" in text
                assert response.headers["Cache-Control"] == "private, no-store"
    client.session.cookie_jar.clear()


async def test_visibility_is_checked_and_changing_it_is_a_new_version(service: Service) -> None:
    await admin.add_participant(
        service.services.repository, service.services.validator, "FRA", "France", "member_state", []
    )
    _, law = example("law", "gbr-computer-misuse-act-1990")
    orphan = await service.submit_and_wait(service.signer.submission(law, record_id="cma", readers=["FRA"]))
    assert orphan["status"] == "rejected" and orphan["errors"][0]["pointer"] == "/visibility", orphan
    unknown = await service.submit_and_wait(
        service.signer.submission(law, record_id="cma", visibility="restricted", readers=["FRA", "XXX"])
    )
    assert unknown["status"] == "rejected"
    assert [(e["pointer"], e["rule"]) for e in unknown["errors"]] == [("/readers/1", "participant:unknown")]
    first = await service.submit_and_wait(service.signer.submission(law, record_id="cma", visibility="participants"))
    again = await service.submit_and_wait(service.signer.submission(law, record_id="cma", visibility="participants"))
    assert (first["version"], again["version"], again.get("unchanged")) == (1, 1, True)
    opened = await service.submit_and_wait(service.signer.submission(law, record_id="cma"))
    assert (opened["status"], opened["version"], opened.get("unchanged", False)) == ("accepted", 2, False)
    public = await service.client.get("/v1/records/GBR/law/cma")
    assert (public.status, (await public.json())["visibility"]) == (200, "public")
    history = await service.client.get("/v1/records/GBR/law/cma/versions")
    assert [v["version"] for v in (await history.json())["versions"]] == [2]  # version 1 was for participants


@pytest.mark.parametrize(
    ("extra", "pointer"),
    [
        ({"visibility": 10**30}, ""),  # not I-JSON: the gateway's 400
        ({"visibility": 5}, "/visibility"),
        ({"visibility": "secret"}, "/visibility"),
        ({"visibility": "restricted", "readers": ["FRA"] * 2}, "/readers"),
        ({"visibility": "restricted", "readers": [f"X{n:02d}" for n in range(101)]}, "/readers"),
        ({"visibility": "restricted", "readers": "FRA"}, "/readers"),
        ({"visibility": "restricted", "readers": [["FRA"]]}, "/readers/0"),
        ({"visibility": "restricted", "readers": ["FR\u0000A"]}, "/readers/0"),
    ],
)
async def test_hostile_visibility_members_are_rejected_with_their_pointer(
    service: Service, extra: dict[str, Any], pointer: str
) -> None:
    _, law = example("law", "gbr-computer-misuse-act-1990")
    status, body = await service.post(service.signer.submission(law, record_id="cma", **extra))
    if status == 202:
        verdict = await service.verdict(body["participant"], body["submission_id"])
        assert verdict["status"] == "rejected", verdict
        pointers = [e["pointer"] for e in verdict["errors"]]
    else:
        assert 400 <= status < 500, body
        pointers = [e["pointer"] for e in body.get("errors", [])] or [body.get("pointer", "")]
    assert any(p.startswith(pointer) for p in pointers), (status, body, pointers)
