"""The change feed: every accepted version once, in seq order, by pull, long-poll and event stream."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from tests.e2e.conftest import Service, register
from tests.support import example_for

_SENT = itertools.count()


async def submit_many(service: Service, signers: list[Any], n: int) -> list[dict[str, Any]]:
    """``n`` new versions over three record ids (each with a citation of its own, so none is unchanged)."""
    verdicts = []
    for i in range(n):
        signer = signers[i % len(signers)]
        record_id, record = example_for("law", signer.participant)
        record = {**record, "citation": f"{record.get('citation', '')} ({next(_SENT)})"}
        verdicts.append(await service.submit_and_wait(signer.submission(record, record_id=f"{record_id}-{i % 3}")))
    return verdicts


async def get(service: Service, **params: Any) -> dict[str, Any]:
    response = await service.client.get("/v1/changes", params={k: str(v) for k, v in params.items()})
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def test_pull_feed_pages_in_order_with_filters(service: Service) -> None:
    zaf = await register(service.services, "ZAF")
    verdicts = await submit_many(service, [service.signer, zaf], 6)
    feed = await get(service)
    assert [c["seq"] for c in feed["results"]] == [v["seq"] for v in verdicts] == list(range(1, 7))
    assert feed["last_seq"] == 6
    first = feed["results"][0]
    assert set(first) == {"seq", "action", "record", "version", "log_index", "submission_id", "kid", "received_at"}
    assert first["submission_id"] == verdicts[0]["submission_id"] and first["log_index"] == verdicts[0]["log_index"]
    paged: list[int] = []
    since = 0
    while True:
        page = await get(service, since=since, limit=4)
        paged += [c["seq"] for c in page["results"]]
        if not page["results"]:
            break
        since = page["last_seq"]
    assert paged == list(range(1, 7))
    gbr = await get(service, participant="GBR")
    assert [c["record"].split("/")[0] for c in gbr["results"]] == ["GBR"] * 3
    assert (await get(service, jurisdiction="ZAF"))["results"] == (await get(service, participant="ZAF"))["results"]
    assert (await get(service, kind="lesson")) == {"results": [], "last_seq": 6}
    full = await get(service, since=5, include="record,jws")
    [last] = full["results"]
    versions = await (await service.client.get(f"/v1/records/{last['record']}/versions/{last['version']}")).json()
    assert last["content"] == versions["content"]
    stored = await service.client.get(f"/v1/submissions/ZAF/{last['submission_id']}/jws")
    assert last["jws"] == await stored.text()


async def test_etag_and_validation(service: Service) -> None:
    await submit_many(service, [service.signer], 1)
    response = await service.client.get("/v1/changes")
    again = await service.client.get("/v1/changes", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304
    for params in ({"since": "-1"}, {"limit": "0"}, {"feed": "continuous"}, {"include": "secrets"}, {"x": "1"}):
        assert (await service.client.get("/v1/changes", params=params)).status == 422


async def test_withdrawals_appear_in_the_feed(service: Service) -> None:
    record_id, record = example_for("law", "GBR")
    await service.submit_and_wait(service.signer.submission(record, record_id=record_id))
    await service.submit_and_wait(service.signer.submission(None, record_id=record_id, action="withdraw"))
    feed = await get(service, jurisdiction="GBR")
    assert [(c["action"], c["version"]) for c in feed["results"]] == [("upsert", 1), ("withdraw", 2)]


async def test_longpoll_waits_for_the_next_change(service: Service) -> None:
    await submit_many(service, [service.signer], 1)
    empty = await get(service, since=1, feed="longpoll", timeout=0.2)
    assert empty == {"results": [], "last_seq": 1}
    waiting = asyncio.create_task(get(service, since=1, feed="longpoll", timeout=20))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await submit_many(service, [service.signer], 1)
    result = await asyncio.wait_for(waiting, 20)
    assert [c["seq"] for c in result["results"]] == [2]


async def read_events(
    service: Service, count: int, headers: dict[str, str] | None = None, **params: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Read ``count`` change events from the stream (and any comments seen meanwhile)."""
    events: list[dict[str, Any]] = []
    comments: list[str] = []
    async with service.client.get("/v1/changes", params={"feed": "eventsource", **params}, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        while len(events) < count:
            line = (await asyncio.wait_for(response.content.readline(), 20)).decode().rstrip("\n")
            if line.startswith(":"):
                comments.append(line)
            elif line == "":
                if block.get("event") == "change":
                    data = json.loads(block["data"])
                    assert int(block["id"]) == data["seq"]
                    events.append(data)
                block = {}
            else:
                field, _, value = line.partition(": ")
                block[field] = value
    return events, comments


async def test_event_stream_resumes_from_last_event_id(service: Service) -> None:
    await submit_many(service, [service.signer], 3)
    events, _ = await read_events(service, 3)
    assert [e["seq"] for e in events] == [1, 2, 3]
    later = asyncio.create_task(read_events(service, 2, headers={"Last-Event-ID": "2"}))
    await asyncio.sleep(0.2)
    await submit_many(service, [service.signer], 1)
    resumed, _ = await later
    assert [e["seq"] for e in resumed] == [3, 4]


@pytest.mark.settings(feed_heartbeat=0.2)
async def test_idle_stream_sends_heartbeats(service: Service) -> None:
    stream = asyncio.create_task(read_events(service, 1, since=0))
    await asyncio.sleep(0.7)
    await submit_many(service, [service.signer], 1)
    events, comments = await stream
    assert [e["seq"] for e in events] == [1]
    assert ": heartbeat" in comments


async def test_concurrent_readers_see_every_change_once_in_order(service: Service) -> None:
    signers = [service.signer, await register(service.services, "ZAF"), await register(service.services, "IRL")]
    total = 90

    async def pager() -> list[int]:
        seen: list[int] = []
        since = 0
        while len(seen) < total:
            page = await get(service, since=since, limit=7)
            seen += [c["seq"] for c in page["results"]]
            since = page["last_seq"]
            await asyncio.sleep(0.01)
        return seen

    async def longpoller() -> list[int]:
        seen: list[int] = []
        since = 0
        while len(seen) < total:
            page = await get(service, since=since, feed="longpoll", timeout=5)
            seen += [c["seq"] for c in page["results"]]
            since = page["last_seq"]
        return seen

    async def streamer() -> list[int]:
        events, _ = await read_events(service, total)
        return [e["seq"] for e in events]

    async def producer() -> None:
        bodies = []
        for i in range(total):
            signer = signers[i % 3]
            record_id, record = example_for("law", signer.participant)
            record = {**record, "citation": f"{record.get('citation', '')} ({i})"}  # a new version each time
            bodies.append(signer.submission(record, record_id=f"{record_id}-{i % 5}"))
        await asyncio.gather(*(service.post(b) for b in bodies))

    readers = [asyncio.create_task(r()) for r in (pager, longpoller, streamer)]
    await producer()
    results = await asyncio.wait_for(asyncio.gather(*readers), 120)
    for seen in results:
        assert seen == list(range(1, total + 1))
