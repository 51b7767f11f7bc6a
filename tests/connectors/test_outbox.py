"""The outbox: in order per record, exactly once, across an outage of the repository."""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.outbox import Outbox, Queued
from connectors.sdk import ExchangeClient
from exchange.client import build_payload, review_payload
from tests.connectors.conftest import FAST, Repository, Served, open_repository
from tests.e2e.conftest import register
from tests.support import shared_path


def version(record: dict[str, Any], label: str) -> dict[str, Any]:
    """The law with another citation, and without its document identifiers (it is stored under two ids)."""
    changed = copy.deepcopy(record)
    changed.pop("identifiers", None)
    changed["citation"] = label
    return changed


async def citations(client: ExchangeClient, record_id: str) -> list[str]:
    return [v["content"]["citation"] for v in await client.versions("ZAF", "law", record_id)]


async def test_in_order_per_record_and_exactly_once(
    repository: Repository, tmp_path: Path, example_law: dict[str, Any]
) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        items = [
            Queued("law", "act", version(example_law, "v1")),
            Queued("law", "other", version(example_law, "o1")),
            Queued("law", "act", version(example_law, "v2")),
            Queued("law", "act", version(example_law, "v3")),
            Queued("law", "other", version(example_law, "o2")),
        ]
        ids = outbox.enqueue("ZAF", items)
        assert outbox.counts()["pending"] == 5
        async with repository.client() as client:
            report = await outbox.flush(client, wait=20)
            assert (report.accepted, report.remaining, report.unreachable) == (5, 0, None)
            assert await citations(client, "act") == ["v1", "v2", "v3"]
            assert await citations(client, "other") == ["o1", "o2"]
            again = await outbox.flush(client, wait=1)
            assert again.sent == 0
        states = [outbox.entry(i).state for i in ids]  # type: ignore[union-attr]
        assert states == ["accepted"] * 5
        assert [e.as_dict()["version"] for e in outbox.entries()] == [1, 1, 2, 3, 2]


async def test_a_lost_answer_never_makes_a_second_version(
    repository: Repository, tmp_path: Path, example_law: dict[str, Any]
) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        (submission_id,) = outbox.enqueue("ZAF", [Queued("law", "act", example_law)])
        async with repository.client() as client:
            entry = outbox.entry(submission_id)
            assert entry is not None
            # the outbox signs, stores and sends … and the process dies before it hears the answer
            prepared = outbox._signed(entry, client, await client.audience())
            assert (await client.submit(prepared)).status == "received"
            stored = outbox.entry(submission_id)
            assert stored is not None and stored.state == "pending" and stored.body == prepared.body
            report = await outbox.flush(client, wait=20)
            assert report.accepted == 1
            assert len(await client.versions("ZAF", "law", "act")) == 1


async def test_bytes_gone_stale_in_an_outage_are_signed_again(
    repository: Repository, tmp_path: Path, example_law: dict[str, Any]
) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        (submission_id,) = outbox.enqueue("ZAF", [Queued("law", "act", example_law)])
        async with repository.client() as client:
            old = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            payload = build_payload(
                participant="ZAF",
                audience=await client.audience(),
                kind="law",
                record_id="act",
                record=example_law,
                submission_id=submission_id,
                created_at=old,
            )
            stale = client.sign_payload(payload).body
            with sqlite3.connect(outbox.path) as db:  # signed a month ago, never delivered
                db.execute("UPDATE entries SET body = ?, attempts = 3 WHERE submission_id = ?", (stale, submission_id))
            report = await outbox.flush(client, wait=20)
            entry = outbox.entry(submission_id)
            assert entry is not None and entry.state == "accepted" and entry.resigned == 1
            assert report.accepted == 1
            assert entry.body != stale  # signed again, under the same submission id
            current = await client.record("ZAF", "law", "act")
            assert current is not None and current["provenance"]["submission_id"] == submission_id


async def test_bytes_the_repository_received_are_sent_again_unchanged(
    tmp_path: Path, example_law: dict[str, Any]
) -> None:
    """Stale bytes the repository did receive (the answer was lost) are re-sent as they are, never re-signed:
    new bytes under the same submission id would be a conflict, and the receipt would be lost."""
    data = tmp_path / "repository"
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        (submission_id,) = outbox.enqueue("ZAF", [Queued("law", "act", example_law)])
        lenient = await open_repository(data, created_at_max_age=60 * 24 * 3600)  # takes month-old bytes
        try:
            async with lenient.client() as client:
                old = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
                payload = build_payload(
                    participant="ZAF",
                    audience=await client.audience(),
                    kind="law",
                    record_id="act",
                    record=example_law,
                    submission_id=submission_id,
                    created_at=old,
                )
                prepared = client.sign_payload(payload)
                sent = prepared.body
                with sqlite3.connect(outbox.path) as db:  # signed and stored, sent, and the answer lost
                    db.execute(
                        "UPDATE entries SET body = ?, attempts = 1 WHERE submission_id = ?", (sent, submission_id)
                    )
                assert (await client.submit(prepared)).status == "received"
        finally:
            await lenient.http.close()
        repository = await open_repository(data)  # the usual window: the same bytes are stale now
        try:
            async with repository.client() as client:
                report = await outbox.flush(client, wait=20)
                entry = outbox.entry(submission_id)
                assert entry is not None and entry.state == "accepted", entry
                assert entry.resigned == 0 and entry.body == sent
                assert report.accepted == 1 and report.refused == 0
                versions = await client.versions("ZAF", "law", "act")
                assert len(versions) == 1 and versions[0]["provenance"]["submission_id"] == submission_id
        finally:
            await repository.http.close()


async def test_without_a_token_the_outbox_relies_on_receipt_order(
    repository: Repository, tmp_path: Path, example_law: dict[str, Any]
) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.enqueue("ZAF", [Queued("law", "act", version(example_law, f"v{n}")) for n in range(3)])
        async with repository.client(token=False) as client:
            report = await outbox.flush(client)
        assert (report.received, report.remaining) == (3, 3)
        assert outbox.counts()["received"] == 3
        async with repository.client() as client:
            assert (await outbox.flush(client, wait=20)).accepted == 3
            assert await citations(client, "act") == ["v0", "v1", "v2"]


async def test_an_unreachable_repository_keeps_everything(tmp_path: Path, example_law: dict[str, Any]) -> None:
    from exchange.envelope import SigningKey

    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.enqueue("ZAF", [Queued("law", "act", example_law)])
        key = SigningKey.generate("ZAF/k1")
        async with ExchangeClient("http://127.0.0.1:9", key=key, token="t", retry=FAST) as client:
            report = await outbox.flush(client)
        assert report.unreachable and report.remaining == 1 and outbox.counts()["pending"] == 1


def test_the_outbox_across_a_repository_outage(served: Served, tmp_path: Path) -> None:
    """Import while the repository is up, stop it, keep importing, restart it, flush: each once, in order."""
    akn = shared_path("data", "akn", "handmade_za_act_2020_19_skeleton.xml")
    outbox = tmp_path / "outbox.sqlite3"
    args = served.args(outbox)
    first = served.run("import", "akn", str(akn), *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ZAF/law/za-act-2020-19: accepted version 1" in first.stdout

    served.server.stop()
    for status in ("partially_in_force", "repealed"):
        down = served.run("import", "akn", str(akn), "--status", status, *args)
        assert down.returncode == 3, down.stdout + down.stderr
        assert "kept in the outbox" in down.stderr
    offline_flush = served.run("outbox", "flush", *args)
    assert offline_flush.returncode == 3 and "unreachable" in offline_flush.stderr
    status = served.run("outbox", "status", "--outbox", str(outbox), "--json")
    counts = json.loads(status.stdout)["counts"]
    assert counts["pending"] == 2 and counts["accepted"] == 1

    served.server.start()  # the same port and data
    flushed = served.run("outbox", "flush", *args)
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    assert "accepted 2" in flushed.stdout and "0 still waiting" in flushed.stdout
    again = served.run("outbox", "flush", *args)
    assert again.returncode == 0 and "sent 0" in again.stdout

    import urllib.request

    url = f"{served.url}/v1/records/ZAF/law/za-act-2020-19/versions"
    with urllib.request.urlopen(url) as response:  # noqa: S310 (loopback)
        versions = json.loads(response.read())["versions"]
    assert [v["content"]["status"] for v in versions] == ["in_force", "partially_in_force", "repealed"]


async def test_a_bulk_import_goes_through_the_batch_endpoint(
    repository: Repository, tmp_path: Path, example_law: dict[str, Any], web_server: Any
) -> None:
    from tests.connectors.test_sdk import proxy

    seen: list[bytes] = []
    base = await web_server({"/{tail:.*}": proxy(repository.url, [], seen)})
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.enqueue("ZAF", [Queued("law", f"law-{n}", version(example_law, f"c{n}")) for n in range(120)])
        async with ExchangeClient(
            base, key=repository.key, token=repository.token, retry=FAST, batch_size=50
        ) as client:
            report = await outbox.flush(client, wait=30)
    assert (report.accepted, report.remaining) == (120, 0)
    assert [body.count(b"\n") for body in seen] == [50, 50, 20]  # three NDJSON requests, not 120
    # (through a proxy the body arrives in chunks: the gateway reads it whole, not just the first chunk)


async def test_a_held_submission_waits_for_its_review_without_holding_the_others(
    tmp_path: Path, example_law: dict[str, Any]
) -> None:
    repo = await open_repository(tmp_path / "repository", review=("ZAF/law",))
    try:
        editor = await register(repo.services, "org:secretariat", "secretariat")
        with Outbox(tmp_path / "outbox.sqlite3") as outbox:
            ids = outbox.enqueue(
                "ZAF",
                [
                    Queued("law", "act", version(example_law, "v1")),
                    Queued("law", "act", version(example_law, "v2")),  # waits behind the held v1
                    Queued("law", "other", version(example_law, "o1")),
                ],
            )
            async with repo.client() as client:
                report = await outbox.flush(client, wait=5)
                assert (report.held, report.accepted, report.remaining) == (2, 0, 1), report
                assert [outbox.entry(i).state for i in ids] == ["held", "pending", "held"]  # type: ignore[union-attr]
                held = await client.status("ZAF", ids[0])
                decision = review_payload(
                    participant="org:secretariat",
                    audience=editor.audience,
                    action="approve",
                    reviewed=dict(held.body),
                )
                approval = await repo.http.post(
                    "/v1/submissions",
                    data=editor.sign_payload(decision),
                    headers={"Content-Type": "application/jose+json"},
                )
                assert approval.status == 202
                for _ in range(200):
                    if (await client.status("ZAF", ids[0])).status == "accepted":
                        break
                    await asyncio.sleep(0.05)
                again = await outbox.flush(client, wait=5)
                assert (again.accepted, again.held, again.sent) == (1, 1, 1), again
                assert [outbox.entry(i).state for i in ids] == ["accepted", "held", "held"]  # type: ignore[union-attr]
    finally:
        await repo.http.close()
