"""Webhooks: verified by the independent standardwebhooks library, bodies parsed as CloudEvents, every
change delivered once (by webhook-id) and in order, whatever the receiver does."""

from __future__ import annotations

import asyncio
import json
import stat
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cloudevents.v1.http import from_http
from standardwebhooks.webhooks import Webhook

from exchange import admin
from exchange.webhooks import MAX_DELIVERY_ANSWER, verify_intent
from tests.e2e.conftest import Service
from tests.e2e.receiver import Received, receiver
from tests.loopback import flood, serve
from tests.support import example_for

FAST = {"webhooks_allow_private": True, "webhook_retry_base": 0.05, "webhook_timeout": 1.0}
pytestmark = pytest.mark.settings(**FAST)


async def subscriber_token(service: Service) -> dict[str, str]:
    secret, _ = await admin.create_token(service.services.repository, "subscriber", "GBR")
    return {"Authorization": f"Bearer {secret}"}


async def subscribe(service: Service, url: str, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = await service.client.post("/v1/subscriptions", json={"url": url, "since": 0, **extra}, headers=auth)
    body = await response.json()
    assert response.status == 201, body
    return dict(body)


async def submit(service: Service, n: int, start: int = 0) -> list[dict[str, Any]]:
    record_id, record = example_for("law", "GBR")
    return [
        await service.submit_and_wait(service.signer.submission(record, record_id=f"{record_id}-{i}"))
        for i in range(start, start + n)
    ]


async def cursor_reaches(service: Service, sub_id: str, auth: dict[str, str], seq: int) -> None:
    """Wait until the subscription's durable cursor is ``seq`` (its acknowledgment was recorded)."""
    while True:
        shown = await (await service.client.get(f"/v1/subscriptions/{sub_id}", headers=auth)).json()
        if shown["cursor"] == seq:
            return
        await asyncio.sleep(0.02)


def check(delivery: Received, secret: str) -> dict[str, Any]:
    """Verify the signature with standardwebhooks and parse the body with cloudevents; return the change."""
    payload = Webhook(secret).verify(delivery.body, delivery.headers)
    event = from_http(delivery.headers, delivery.body)
    assert event["specversion"] == "1.0" and event["id"] == delivery.headers["webhook-id"]
    assert event["type"] == "int.exchange.record.changed" and event["source"] == "https://repository.test"
    assert event["sequence"] == str(payload["data"]["seq"])
    assert event.data == payload["data"]
    return dict(payload["data"])


async def test_every_change_is_delivered_in_order_and_verifies(service: Service) -> None:
    auth = await subscriber_token(service)
    async with receiver() as hook:
        sub = await subscribe(service, hook.url, auth)
        assert sub["status"] == "active" and sub["secret"].startswith("whsec_")
        verdicts = await submit(service, 3)
        deliveries = await hook.wait_for(3)
        assert [check(d, sub["secret"])["seq"] for d in deliveries] == [v["seq"] for v in verdicts]
        assert deliveries[0].headers["webhook-id"] == f"msg_{sub['id']}_{verdicts[0]['seq']}"
        shown = await (await service.client.get(f"/v1/subscriptions/{sub['id']}", headers=auth)).json()
        assert "secret" not in shown
        for _ in range(50):
            shown = await (await service.client.get(f"/v1/subscriptions/{sub['id']}", headers=auth)).json()
            if shown["cursor"] == verdicts[-1]["seq"]:
                break
            await asyncio.sleep(0.05)
        assert shown["cursor"] == verdicts[-1]["seq"]
        log = await (await service.client.get(f"/v1/subscriptions/{sub['id']}/deliveries", headers=auth)).json()
        assert {d["status_code"] for d in log["deliveries"]} == {200}
        assert all(d["latency_ms"] >= 0 for d in log["deliveries"])


async def test_failures_timeouts_and_429_still_deliver_each_once_in_order(service: Service) -> None:
    auth = await subscriber_token(service)
    async with receiver(script=[500, 503, "hang", 429, 200, 500, 200], hang_seconds=2.0) as hook:
        sub = await subscribe(service, hook.url, auth)
        verdicts = await submit(service, 4)
        deliveries = await hook.wait_for(4, timeout=60)
        assert [check(d, sub["secret"])["seq"] for d in deliveries] == [v["seq"] for v in verdicts]
        ids = [d.headers["webhook-id"] for d in hook.received]
        first = ids[0]
        assert ids.count(first) >= 3, "retries of the same change keep the same webhook-id"
        log = await (await service.client.get(f"/v1/subscriptions/{sub['id']}/deliveries", headers=auth)).json()
        codes = [d["status_code"] for d in reversed(log["deliveries"])]
        assert codes[:2] == [500, 503] and None in codes and 429 in codes


async def test_pause_resume_and_replay(service: Service) -> None:
    auth = await subscriber_token(service)
    async with receiver() as hook:
        sub = await subscribe(service, hook.url, auth)
        await submit(service, 1)
        await hook.wait_for(1)
        paused = await service.client.post(f"/v1/subscriptions/{sub['id']}/pause", headers=auth)
        assert (await paused.json())["status"] == "paused"
        await submit(service, 2, start=1)
        await asyncio.sleep(1.5)
        assert len(hook.accepted()) == 1
        resumed = await service.client.post(f"/v1/subscriptions/{sub['id']}/resume", headers=auth)
        assert (await resumed.json())["status"] == "active"
        deliveries = await hook.wait_for(3)
        assert [check(d, sub["secret"])["seq"] for d in deliveries] == [1, 2, 3]
        await cursor_reaches(service, sub["id"], auth, 3)  # the last acknowledgment landed
        before = len(hook.received)
        replay = await service.client.post(f"/v1/subscriptions/{sub['id']}/replay", json={"since": 1}, headers=auth)
        assert replay.status == 200
        for _ in range(100):
            if len(hook.received) >= before + 2:
                break
            await asyncio.sleep(0.05)
        assert [json.loads(d.body)["data"]["seq"] for d in hook.received[before : before + 2]] == [2, 3]


async def test_rotation_signs_with_both_secrets_during_the_overlap(service: Service) -> None:
    auth = await subscriber_token(service)
    async with receiver() as hook:
        sub = await subscribe(service, hook.url, auth)
        rotated = await (await service.client.post(f"/v1/subscriptions/{sub['id']}/rotate", headers=auth)).json()
        assert rotated["secret"] != sub["secret"]
        await submit(service, 1)
        [delivery] = await hook.wait_for(1)
        assert len(delivery.headers["webhook-signature"].split(" ")) == 2
        check(delivery, rotated["secret"])
        check(delivery, sub["secret"])


async def test_gone_receiver_ends_the_subscription(service: Service) -> None:
    auth = await subscriber_token(service)
    async with receiver(script=[410]) as hook:
        sub = await subscribe(service, hook.url, auth)
        await submit(service, 1)
        for _ in range(100):
            shown = await (await service.client.get(f"/v1/subscriptions/{sub['id']}", headers=auth)).json()
            if shown["status"] == "gone":
                break
            await asyncio.sleep(0.05)
        assert shown["status"] == "gone"
        assert hook.received[0].status == 410


@pytest.mark.settings(**FAST, webhook_failure_window=0.3)
async def test_long_failure_pauses_and_keeps_the_cursor(service: Service) -> None:
    auth = await subscriber_token(service)
    async with receiver(script=[500] * 1000) as hook:
        sub = await subscribe(service, hook.url, auth)
        await submit(service, 1)
        for _ in range(200):
            shown = await (await service.client.get(f"/v1/subscriptions/{sub['id']}", headers=auth)).json()
            if shown["status"] == "paused":
                break
            await asyncio.sleep(0.05)
        assert shown["status"] == "paused" and shown["cursor"] == 0 and shown["failing_since"]
        assert hook.received


@pytest.mark.settings(**{**FAST, "webhook_timeout": 120.0})
async def test_one_outage_does_not_slow_another(service: Service) -> None:
    """The healthy receiver gets every change while the other still holds its first request open."""
    auth = await subscriber_token(service)
    async with receiver(script=["hold"]) as stuck, receiver() as healthy:
        held = await subscribe(service, stuck.url, auth)
        good = await subscribe(service, healthy.url, auth)
        verdicts = await submit(service, 3)
        await asyncio.wait_for(stuck.held.wait(), 30)
        deliveries = await healthy.wait_for(3)
        assert [check(d, good["secret"])["seq"] for d in deliveries] == [v["seq"] for v in verdicts]
        assert not stuck.received, "the stuck receiver answered before it was released"
        stuck.release.set()
        late = await stuck.wait_for(3)
        assert [check(d, held["secret"])["seq"] for d in late] == [v["seq"] for v in verdicts]


async def test_handshake_and_address_rules(service: Service) -> None:
    auth = await subscriber_token(service)
    async with receiver(echo_challenge=False) as hook:
        sub = await subscribe(service, hook.url, auth)
        assert sub["status"] == "pending" and sub["last_error"]
    listed = await (await service.client.get("/v1/subscriptions", headers=auth)).json()
    assert [s["id"] for s in listed["subscriptions"]] == [sub["id"]]
    assert (await service.client.post("/v1/subscriptions", json={"url": "ftp://x"}, headers=auth)).status == 422
    assert (await service.client.post("/v1/subscriptions", json={"url": "http://x"})).status == 401
    deleted = await service.client.delete(f"/v1/subscriptions/{sub['id']}", headers=auth)
    assert deleted.status == 204


@pytest.mark.settings(webhooks_allow_private=False)
async def test_private_addresses_are_refused(service: Service) -> None:
    auth = await subscriber_token(service)
    for url in ("http://127.0.0.1:9/hook", "http://10.0.0.8/hook", "http://[::1]/hook", "http://localhost/x"):
        response = await service.client.post("/v1/subscriptions", json={"url": url}, headers=auth)
        assert response.status == 422, url
        assert (await response.json())["errors"][0]["pointer"] == "/url"


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
async def test_secrets_and_data_are_not_readable_at_rest(service: Service) -> None:
    auth = await subscriber_token(service)
    response = await service.client.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=auth)
    created = await response.json()
    assert response.status == 201, created
    rotated = await (await service.client.post(f"/v1/subscriptions/{created['id']}/rotate", headers=auth)).json()
    settings = service.services.settings
    data = settings.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"exchange.db", "secrets.key", "signing.pem", "log.pem"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (p for p in data.rglob("*") if p.is_dir()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    stored = b"".join(p.read_bytes() for p in files if p.name.startswith("exchange.db"))
    for secret in (created["secret"], rotated["secret"]):
        assert secret.encode() not in stored
        assert secret.removeprefix("whsec_").encode() not in stored
    sub = await service.services.repository.get_subscription(created["id"])
    assert sub is not None and sub.secret.startswith("sealed:v1:")
    assert service.services.secrets.open(sub.secret, sub.id) == rotated["secret"]
    with pytest.raises(ValueError, match="does not open"):
        service.services.secrets.open(sub.secret, "sub_another")


async def test_an_endless_verification_answer_fails_the_handshake_without_buffering_it() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        return await flood(request, prefix=request.query["challenge"].encode())

    app = web.Application()
    app.router.add_get("/hook", endless)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        problem = await verify_intent(session, url + "/hook")
    assert problem == "the verification request answered more than the challenge"


async def test_an_endless_delivery_answer_is_a_failed_delivery(service: Service) -> None:
    auth = await subscriber_token(service)
    async with receiver(flood_answers=True) as hook:
        sub = await subscribe(service, hook.url, auth)
        await submit(service, 1)
        for _ in range(200):
            shown = await (await service.client.get(f"/v1/subscriptions/{sub['id']}", headers=auth)).json()
            if shown["last_error"]:
                break
            await asyncio.sleep(0.05)
        assert shown["last_error"] == f"the receiver answered more than {MAX_DELIVERY_ANSWER} bytes"
        assert shown["cursor"] == 0 and hook.received
    health = await service.client.get("/v1/info")
    assert health.status == 200  # the service is still serving
