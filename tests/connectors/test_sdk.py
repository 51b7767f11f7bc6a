"""The client SDK against the real app over HTTP, and its retries through a faulty proxy."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from connectors.sdk import ExchangeClient, RepositoryError, RetryPolicy
from exchange.client import build_payload
from tests.connectors.conftest import FAST, Repository


async def test_sign_submit_wait_receipt_and_read(repository: Repository, example_law: dict[str, Any]) -> None:
    async with repository.client() as client:
        assert await client.audience() == "https://repository.test"
        prepared = await client.prepare("law", "zaf-cybercrimes-act-2020", example_law)
        outcome = await client.submit_and_wait(prepared)
        assert outcome.status == "accepted", outcome
        assert outcome.record == "ZAF/law/zaf-cybercrimes-act-2020" and outcome.version == 1
        receipt = await client.receipt("ZAF", prepared.submission_id)
        assert set(receipt) == {"log_index", "entry", "inclusion_proof", "checkpoint"}
        assert await client.exists("ZAF", prepared.submission_id)
        read = await client.record("ZAF", "law", "zaf-cybercrimes-act-2020")
        assert read is not None and read["content"] == example_law
        assert read["provenance"]["submission_id"] == prepared.submission_id
        assert await client.record("ZAF", "law", "absent") is None
        versions = await client.versions("ZAF", "law", "zaf-cybercrimes-act-2020")
        assert [v["version"] for v in versions] == [1]
        # the same bytes again: the first outcome, never a second version
        again = await client.submit(prepared)
        assert again.status == "received" and again.body["status"] == "accepted"
        assert len(await client.versions("ZAF", "law", "zaf-cybercrimes-act-2020")) == 1


async def test_batch_answers_per_item(repository: Repository, example_law: dict[str, Any]) -> None:
    broken = {"jurisdiction": "ZAF"}
    example_law.pop("identifiers")  # one law under four ids: its document identifier would be a duplicate
    async with repository.client() as client:
        prepared = [await client.prepare("law", f"law-{n}", example_law) for n in range(4)]
        prepared.append(await client.prepare("law", "broken", broken))
        foreign = build_payload(
            participant="ZAF", audience="https://elsewhere.test", kind="law", record_id="x", record=example_law
        )
        prepared.append(client.sign_payload(foreign))
        outcomes = await client.submit_many(prepared)
        assert [o.status for o in outcomes] == ["received"] * 5 + ["refused"]
        assert outcomes[-1].http_status == 422 and outcomes[-1].errors[0]["pointer"] == "/audience"
        verdicts = [await client.wait("ZAF", p.submission_id, 20) for p in prepared[:5]]
        assert [v.status for v in verdicts] == ["accepted"] * 4 + ["rejected"]
        assert any(e["pointer"] == "/record/title" for e in verdicts[-1].errors)
        found = [r async for r in client.records(limit=2, participant="ZAF")]
        assert sorted(r["record_id"] for r in found) == ["law-0", "law-1", "law-2", "law-3"]


async def test_batches_are_split_by_size(repository: Repository, example_law: dict[str, Any]) -> None:
    example_law.pop("identifiers")  # one law under five ids: its document identifier would be a duplicate
    async with repository.client(batch_size=2) as client:
        prepared = [await client.prepare("law", f"law-{n}", example_law) for n in range(5)]
        outcomes = await client.submit_many(prepared)
        assert [o.status for o in outcomes] == ["received"] * 5
        assert [o.submission_id for o in outcomes] == [p.submission_id for p in prepared]


async def test_the_change_feed(repository: Repository, example_law: dict[str, Any]) -> None:
    async with repository.client() as client:
        assert (await client.changes(0))["results"] == []
        for n in range(3):
            record = copy.deepcopy(example_law)
            record["citation"] = f"Act {n}"
            assert (await client.submit_and_wait(await client.prepare("law", "act", record))).status == "accepted"
        page = await client.changes(0, limit=2)
        assert [c["version"] for c in page["results"]] == [1, 2]
        seen = []
        async for change in client.follow(0, poll=0.01):
            seen.append(change["seq"])
            if len(seen) == 3:
                break
        assert seen == [1, 2, 3]


def proxy(upstream: str, faults: list[str], seen: list[bytes]) -> Callable[[web.Request], Any]:
    """Forward to ``upstream``; each submission POST first meets the next fault: 503, 429 or a dropped line."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "POST":
            seen.append(body)
            if faults:
                fault = faults.pop(0)
                if fault == "drop":
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=500)
                return web.json_response({"title": fault}, status=int(fault), headers={"Retry-After": "0"})
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
        async with (
            aiohttp.ClientSession() as session,
            session.request(request.method, upstream + request.path_qs, data=body, headers=headers) as answer,
        ):
            return web.Response(
                status=answer.status, body=await answer.read(), content_type=answer.content_type, headers={}
            )

    return handler


@pytest.mark.parametrize("endpoint", ["single", "batch"])
async def test_retries_send_the_same_bytes(
    repository: Repository, web_server: Callable[..., Any], example_law: dict[str, Any], endpoint: str
) -> None:
    faults = ["503", "drop", "429"]
    seen: list[bytes] = []
    handler = proxy(repository.url, faults, seen)
    base = await web_server({"/{tail:.*}": handler})
    retry = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)
    async with ExchangeClient(base, key=repository.key, token=repository.token, retry=retry) as client:
        prepared = await client.prepare("law", "act", example_law)
        if endpoint == "single":
            outcome = await client.submit(prepared)
        else:
            (outcome,) = await client.submit_many([prepared])
        assert outcome.status == "received", outcome
        verdict = await client.wait("ZAF", prepared.submission_id, 20)
    assert verdict.status == "accepted"
    assert len(seen) == 4 and len(set(seen)) == 1  # three faults, then the same bytes got through
    async with repository.client() as client:
        assert len(await client.versions("ZAF", "law", "act")) == 1


async def test_unreachable_repository(example_law: dict[str, Any]) -> None:
    async with ExchangeClient("http://127.0.0.1:9", retry=FAST) as client:
        with pytest.raises(RepositoryError):
            await client.info()
    from exchange.envelope import SigningKey

    key = SigningKey.generate("ZAF/k1")
    async with ExchangeClient("http://127.0.0.1:9", key=key, retry=FAST) as client:
        payload = build_payload(participant="ZAF", audience="x", kind="law", record_id="a", record=example_law)
        outcome = await client.submit(client.sign_payload(payload))
        assert outcome.status == "failed" and "127.0.0.1:9" in outcome.detail
        (batched,) = await client._batch([client.sign_payload(payload)])
        assert batched.status == "failed"


async def test_status_needs_a_token(repository: Repository, example_law: dict[str, Any]) -> None:
    async with repository.client(token=False) as client:
        prepared = await client.prepare("law", "act", example_law)
        outcome = await client.submit_and_wait(prepared)
        assert outcome.status == "received"  # no token: no verdict can be read
        with pytest.raises(RepositoryError) as caught:
            await client.status("ZAF", prepared.submission_id)
        assert caught.value.status == 401
        assert await client.exists("ZAF", prepared.submission_id)
        assert not await client.exists("ZAF", "0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10")
