"""``exchange follow``: a verified local copy of the change feed, against the real app over HTTP.

The follower runs in-process (its async API) or as a real ``python -m exchange follow`` process; the
repository is the embedded stack on a loopback port, or a real ``exchange serve`` process when it has
to restart under the follower.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.follow import http as follow_http
from connectors.follow.follower import FollowOptions, FollowResult, Inconsistency, SetupError, follow
from connectors.follow.http import EventParser, FeedClient
from connectors.follow.journal import Journal, JournalError
from exchange import admin
from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.transport import LineTooLong, ResponseTooLarge, RetryPolicy
from tests.e2e.conftest import Service, register, start_service
from tests.e2e.process import Server, environment, exchange, free_port
from tests.loopback import flood, serve
from tests.support import Signer, example_for

FAST = RetryPolicy(attempts=40, base_delay=0.1, max_delay=0.5)


@dataclass
class Upstream:
    """The embedded stack on a loopback port, with GBR registered."""

    service: Service
    url: str
    data_dir: Path
    sent: int = 0

    async def submit(self, n: int = 1, *, record_id: str | None = None, action: str = "upsert") -> list[int]:
        """``n`` accepted versions (each with content of its own, so none is unchanged); their seqs."""
        rid, record = example_for("law", "GBR")
        seqs = []
        for i in range(n):
            self.sent += 1
            body = self.service.signer.submission(
                None if action == "withdraw" else {**record, "citation": f"{record['citation']} ({self.sent})"},
                record_id=record_id or f"{rid}-{i % 3}",
                action=action,
            )
            verdict = await self.service.submit_and_wait(body)
            assert verdict["status"] == "accepted", verdict
            seqs.append(int(verdict["seq"]))
        return seqs

    async def changes(self, **params: str) -> list[dict[str, Any]]:
        response = await self.service.client.get(
            "/v1/changes", params={"include": "record,jws", "limit": "1000", **params}
        )
        return list((await response.json())["results"])

    def sql(self, statement: str, *args: Any) -> None:
        with sqlite3.connect(self.data_dir / "exchange.db") as db:
            assert db.execute(statement, args).rowcount == 1


@pytest.fixture
async def upstream(tmp_path: Path) -> AsyncIterator[Upstream]:
    data_dir = tmp_path / "data"
    client, services = await start_service(data_dir, {"feed_heartbeat": 0.5})
    try:
        signer = await register(services, "GBR")
        admin_token, _ = await admin.create_token(services.repository, "admin", None)
        url = str(client.make_url("")).rstrip("/")
        yield Upstream(Service(client, services, signer, admin_token, ""), url, data_dir)
    finally:
        await client.close()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def run(
    url: str, out: Path, mode: Literal["pull", "sse"] = "pull", **options: Any
) -> tuple[FollowResult, list[str]]:
    said: list[str] = []
    result = await follow(FollowOptions(url, out, mode=mode, once=True, retry=FAST, **options), said.append)
    return result, said


async def cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange", "follow", *args, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def wait_for_lines(path: Path, count: int, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not path.exists() or len(path.read_bytes().splitlines()) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{path} did not reach {count} lines"
        await asyncio.sleep(0.05)


# ---- following --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pull", "sse"])
async def test_follows_into_a_journal_and_resumes_with_only_the_new_changes(
    upstream: Upstream, mode: Literal["pull", "sse"]
) -> None:
    await upstream.submit(4)
    out = upstream.data_dir.parent / "copy.ndjson"
    result, said = await run(upstream.url, out, mode)
    assert (result.last_seq, result.written) == (4, 4)
    assert lines(out) == await upstream.changes()
    state = json.loads(out.with_name("copy.ndjson.checkpoint").read_text())
    assert state["checkpoint"]["size"] >= 5 and state["verifier_keys"] and state["applied_seq"] == 4
    assert any("verified and wrote" in s for s in said)

    await upstream.submit(2)
    again, _ = await run(upstream.url, out, mode)
    assert (again.last_seq, again.written) == (6, 2)
    assert lines(out) == await upstream.changes()
    assert [c["seq"] for c in lines(out)] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("mode", ["pull", "sse"])
async def test_a_folder_holds_each_current_record_and_loses_withdrawn_ones(
    upstream: Upstream, mode: Literal["pull", "sse"]
) -> None:
    await upstream.submit(2)
    out = upstream.data_dir.parent / "mirror"
    await run(upstream.url, out, mode)
    first = await upstream.changes()
    for change in first:
        path = out / (change["record"] + ".json")
        assert json.loads(path.read_text()) == change["content"]

    kept, gone = first[0]["record"].split("/")[2], first[1]["record"].split("/")[2]
    await upstream.submit(1, record_id=kept)
    await upstream.submit(1, record_id=gone, action="withdraw")
    await run(upstream.url, out, mode)
    feed = await upstream.changes()
    assert lines(out / "changes.ndjson") == feed
    assert json.loads((out / f"GBR/law/{kept}.json").read_text()) == feed[2]["content"]
    assert not (out / f"GBR/law/{gone}.json").exists()
    assert sorted(p.name for p in (out / "GBR/law").iterdir()) == [f"{kept}.json"]

    # a crash after the journal line but before the record file: the next start rebuilds it
    (out / f"GBR/law/{kept}.json").unlink()
    state = json.loads((out / ".checkpoint").read_text())
    (out / ".checkpoint").write_text(json.dumps({**state, "applied_seq": 1}))
    _, said = await run(upstream.url, out, mode)
    assert json.loads((out / f"GBR/law/{kept}.json").read_text()) == feed[2]["content"]
    assert not (out / f"GBR/law/{gone}.json").exists()
    assert any("rebuilt 2 record file(s)" in s for s in said)


async def test_filters_check_order_only_and_must_not_change_on_resume(upstream: Upstream) -> None:
    zaf = await register(upstream.service.services, "ZAF")
    _, law = example_for("law", "ZAF")
    await upstream.submit(1)
    await upstream.service.submit_and_wait(zaf.submission(law, record_id="zaf-law"))
    await upstream.submit(1)
    out = upstream.data_dir.parent / "gbr.ndjson"
    result, said = await run(upstream.url, out, participants=("GBR",))
    assert [c["seq"] for c in lines(out)] == [1, 3] and result.last_seq == 3
    assert any("gaps cannot be detected" in s for s in said)
    with pytest.raises(SetupError, match="same filters"):
        await run(upstream.url, out, participants=("ZAF",))
    with pytest.raises(SetupError, match="new copy only"):
        await run(upstream.url, out, participants=("GBR",), since=1)


async def test_since_starts_a_new_copy_part_way(upstream: Upstream) -> None:
    await upstream.submit(3)
    out = upstream.data_dir.parent / "late.ndjson"
    await run(upstream.url, out, "sse", since=2)
    assert [c["seq"] for c in lines(out)] == [3]


# ---- crashes and restarts -------------------------------------------------------------------------


async def test_killed_follower_resumes_without_duplicates_or_loss(upstream: Upstream) -> None:
    out = upstream.data_dir.parent / "killed.ndjson"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange", "follow", upstream.url, "--out", str(out), stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await upstream.submit(5)
        await wait_for_lines(out, 3)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    with out.open("ab") as journal:  # the write the kill interrupted
        journal.write(b'{"seq": 6, "action": "ups')
    await upstream.submit(3)
    code, err = await cli(upstream.url, "--out", str(out), "--once")
    assert code == 0, err
    assert "cut a torn last line" in err and "up to date at seq 8" in err
    assert lines(out) == await upstream.changes()
    assert [c["seq"] for c in lines(out)] == list(range(1, 9))


async def test_sigterm_stops_the_follower_cleanly(upstream: Upstream) -> None:
    await upstream.submit(2)
    out = upstream.data_dir.parent / "stopped"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange", "follow", upstream.url, "--out", str(out), "--mode", "pull",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await wait_for_lines(out / "changes.ndjson", 2)
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, err
    assert b"stopped" in err


def test_sse_follower_survives_a_server_restart(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    server = Server(env)
    server.env["EXCHANGE_ORIGIN"] = server.url
    key = SigningKey.generate("GBR/2026-01")
    (tmp_path / "key.jwk").write_text(json.dumps(key.public_jwk))
    exchange(
        "admin",
        "--init",
        "participant",
        "add",
        "GBR",
        "--name",
        "UK",
        "--type",
        "member_state",
        env=server.env,
        check=True,
    )
    exchange("admin", "key", "add", key.kid, "--public-key", str(tmp_path / "key.jwk"), env=server.env, check=True)
    signer = Signer(key, audience=server.url)
    _, record = example_for("law", "GBR")
    out = tmp_path / "live.ndjson"

    async def submit(session: aiohttp.ClientSession, n: int, first: int = 0) -> None:
        for i in range(first, first + n):
            body = signer.submission({**record, "citation": f"c{i}"}, record_id=f"law-{i}")
            async with session.post(
                server.url + "/v1/submissions", data=body, headers={"Content-Type": FLATTENED_MEDIA_TYPE}
            ) as response:
                assert response.status == 202

    async def scenario() -> None:
        said: list[str] = []
        task = asyncio.create_task(follow(FollowOptions(server.url, out, retry=FAST), said.append))
        try:
            async with aiohttp.ClientSession() as session:
                await submit(session, 2)
                await wait_for_lines(out, 2)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(server.start)
            async with aiohttp.ClientSession() as session:
                await submit(session, 2, first=2)
                await wait_for_lines(out, 4)
            assert not task.done()
            assert any("reconnecting from seq 2" in s for s in said)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert [c["seq"] for c in lines(out)] == [1, 2, 3, 4]

    server.start()
    try:
        asyncio.run(scenario())
    finally:
        server.stop()


async def test_an_unreachable_repository_exits_3(tmp_path: Path) -> None:
    code, err = await cli(f"http://127.0.0.1:{free_port()}", "--out", str(tmp_path / "x.ndjson"), "--retries", "2")
    assert code == 3, err
    assert "unreachable" in err


# ---- inconsistencies ------------------------------------------------------------------------------


async def test_altered_content_stops_the_follower_naming_the_seq(upstream: Upstream) -> None:
    await upstream.submit(3)
    upstream.sql("UPDATE record_versions SET content = json_set(content, '$.citation', 'forged') WHERE seq = ?", 2)
    out = upstream.data_dir.parent / "tampered.ndjson"
    code, err = await cli(upstream.url, "--out", str(out), "--mode", "pull", "--once")
    assert code == 1, err
    assert "seq 2" in err and "content served differs from the record in the signed JWS" in err
    record = (await upstream.changes())[1]["record"]
    assert record in err
    assert [c["seq"] for c in lines(out)] == [1], "the verified change before it is kept, nothing after"


async def test_altered_jws_bytes_are_caught_by_the_signature_or_the_log(upstream: Upstream) -> None:
    await upstream.submit(2)
    sid = (await upstream.changes())[1]["submission_id"]
    with sqlite3.connect(upstream.data_dir / "exchange.db") as db:
        (original,) = db.execute("SELECT body FROM submissions WHERE submission_id = ?", (sid,)).fetchone()
    jws = json.loads(original)
    signature = jws["signature"]
    forged = {**jws, "signature": ("B" if signature[0] == "A" else "A") + signature[1:]}
    upstream.sql("UPDATE submissions SET body = ? WHERE submission_id = ?", json.dumps(forged).encode(), sid)
    out = upstream.data_dir.parent / "jws.ndjson"
    with pytest.raises(Inconsistency) as caught:
        await run(upstream.url, out, "sse")
    assert caught.value.seq == 2 and "signature does not verify" in str(caught.value)

    # the same signed JWS with one more space: the signature holds, the log's jws_sha256 does not (read by
    # pages: the event streams of the running repository keep serving the change they read before)
    upstream.sql("UPDATE submissions SET body = ? WHERE submission_id = ?", bytes(original) + b" ", sid)
    with pytest.raises(Inconsistency) as caught:
        await run(upstream.url, out, "pull")
    assert caught.value.seq == 2 and "jws_sha256" in str(caught.value)
    assert [c["seq"] for c in lines(out)] == [1]


async def test_a_log_entry_that_names_another_version_is_reported(upstream: Upstream) -> None:
    await upstream.submit(2)
    change = (await upstream.changes())[1]
    upstream.sql("UPDATE changes SET version = version + 1 WHERE seq = ?", 2)
    upstream.sql(
        "UPDATE record_versions SET version = version + 1 WHERE seq = ?", 2
    )  # the served change now claims another version than the log recorded
    with pytest.raises(Inconsistency) as caught:
        await run(upstream.url, upstream.data_dir.parent / "log.ndjson")
    assert caught.value.seq == 2 and caught.value.record == change["record"]
    assert f"log entry {change['log_index']} records version" in str(caught.value)


async def test_a_repository_that_no_longer_serves_the_copy_s_last_change_is_reported(upstream: Upstream) -> None:
    await upstream.submit(2)
    out = upstream.data_dir.parent / "anchor.ndjson"
    await run(upstream.url, out)
    upstream.sql("DELETE FROM changes WHERE seq = ?", 2)
    with pytest.raises(Inconsistency) as caught:
        await run(upstream.url, out)
    assert caught.value.seq == 2 and "rolled back" in str(caught.value)


def gap_proxy(upstream: str, drop: int) -> web.Application:
    """Forwards every GET to ``upstream`` but leaves change ``drop`` out of the feed (pages and stream)."""

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k in ("Last-Event-ID", "Accept")}
        async with (
            aiohttp.ClientSession() as session,
            session.get(upstream + request.path_qs, headers=headers) as answer,
        ):
            if request.path == "/v1/changes" and request.query.get("feed") == "eventsource":
                return await _stream_without(request, answer, drop)
            body = await answer.read()
            if request.path == "/v1/changes" and answer.status == 200:
                page = json.loads(body)
                page["results"] = [c for c in page["results"] if c["seq"] != drop]
                body = json.dumps(page).encode()
            return web.Response(body=body, status=answer.status, content_type=answer.content_type)

    app = web.Application()
    app.router.add_get("/{tail:.*}", forward)
    return app


async def _stream_without(request: web.Request, answer: aiohttp.ClientResponse, drop: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    block: list[bytes] = []
    dropped = False
    async for line in answer.content:
        block.append(line)
        if line.strip():
            continue
        if block[0] == f"id: {drop}\n".encode():
            dropped = True
        else:
            await response.write(b"".join(block))
            if dropped and block[0].startswith(b"id: "):
                break  # one event past the gap is enough
        block = []
    return response


@pytest.mark.parametrize("mode", ["pull", "sse"])
async def test_a_missing_change_is_reported_as_a_gap(upstream: Upstream, mode: Literal["pull", "sse"]) -> None:
    await upstream.submit(4)
    proxy = TestServer(gap_proxy(upstream.url, drop=2))
    await proxy.start_server()
    try:
        out = upstream.data_dir.parent / "gap.ndjson"
        with pytest.raises(Inconsistency) as caught:
            await run(str(proxy.make_url("")).rstrip("/"), out, mode)
        assert caught.value.seq == 3
        assert "gap in the feed: seq 2 missing" in str(caught.value)
        assert [c["seq"] for c in lines(out)] == [1]
    finally:
        await proxy.close()


# ---- pieces -------------------------------------------------------------------------------------


def test_journal_cuts_a_torn_line_and_reads_back_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "j.ndjson"
    changes = [{"seq": n, "record": f"GBR/law/r{n % 2}", "action": "upsert", "content": {"n": n}} for n in (1, 2, 3)]
    journal = Journal.open(path)
    journal.append(changes)
    journal.close()
    with path.open("ab") as handle:
        handle.write(b'{"seq": 4, "rec')
    journal = Journal.open(path)
    try:
        with pytest.raises(JournalError, match="another follower"):
            Journal.open(path)
        assert (journal.last_seq, journal.truncated) == (3, 15)
        assert [c["seq"] for c in journal.newest_after(1)] == [3, 2]
    finally:
        journal.close()
    assert lines(path) == changes
    os.truncate(path, 0)
    empty = Journal.open(path)
    assert empty.last_seq is None
    empty.close()


def test_event_parser_frames_events_and_skips_comments() -> None:
    parser = EventParser()
    feed = ["retry: 2000\n", "\n", ": heartbeat\n", "\n", "id: 7\n", "event: change\n", "data: {}\n", "\n"]
    events = [e for e in (parser.feed(line) for line in feed) if e is not None]
    assert [(e.id, e.event, e.data) for e in events] == [("7", "change", "{}")]
    assert parser.retry_ms == 2000 and parser.last_id == "7"


async def test_an_endless_body_or_event_line_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that never stops answering is cut off at the limits, not read into memory."""

    async def endless_json(request: web.Request) -> web.StreamResponse:
        return await flood(request, content_type="application/json")

    async def endless_event(request: web.Request) -> web.StreamResponse:
        return await flood(request, prefix=b"id: 1\nevent: change\ndata: ", content_type="text/event-stream")

    app = web.Application()
    app.router.add_get("/v1/info", endless_json)
    app.router.add_get("/v1/changes", endless_event)
    monkeypatch.setattr(follow_http, "MAX_BODY", 1 << 20)
    monkeypatch.setattr(follow_http, "MAX_LINE", 1 << 18)
    async with serve(app) as url, FeedClient(url, retry=FAST) as client:
        with pytest.raises(ResponseTooLarge, match="longer than 1048576 bytes"):
            await client.get_json("/v1/info")
        events = [event async for event in _until_error(client.events([], None, idle_timeout=30))]
    assert isinstance(events[-1], LineTooLong) and "longer than 262144 bytes" in str(events[-1])


async def _until_error(events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    try:
        async for event in events:
            yield event
    except ResponseTooLarge as exc:
        yield exc


def test_an_event_of_many_data_lines_is_bounded_too() -> None:
    parser = EventParser(max_data=100)
    for _ in range(9):
        assert parser.feed("data: " + "x" * 10 + "\n") is None
    with pytest.raises(ResponseTooLarge):
        parser.feed("data: " + "x" * 10 + "\n")


def counting_proxy(upstream: str, seen: list[str], *, batch: bool) -> web.Application:
    """Forwards every GET to ``upstream``, noting each path; without ``batch`` it answers the batch
    inclusion-proof route 404, as a repository that does not serve it would."""

    async def forward(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        if request.path == "/v1/log/proofs/inclusion" and not batch:
            return web.json_response({"type": "about:blank", "title": "Not found", "status": 404}, status=404)
        async with aiohttp.ClientSession() as session, session.get(upstream + request.path_qs) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status, content_type=answer.content_type)

    app = web.Application()
    app.router.add_get("/{tail:.*}", forward)
    return app


@pytest.mark.parametrize("batch", [True, False])
async def test_inclusion_proofs_come_a_page_at_a_time_or_one_by_one(upstream: Upstream, batch: bool) -> None:
    await upstream.submit(5)
    seen: list[str] = []
    proxy = TestServer(counting_proxy(upstream.url, seen, batch=batch))
    await proxy.start_server()
    try:
        out = upstream.data_dir.parent / f"proofs-{batch}.ndjson"
        result, _ = await run(str(proxy.make_url("")).rstrip("/"), out)
        assert [c["seq"] for c in lines(out)] == [1, 2, 3, 4, 5], result
        singles = seen.count("/v1/log/proof/inclusion")
        assert (seen.count("/v1/log/proofs/inclusion"), singles) == ((1, 0) if batch else (1, 5)), seen
    finally:
        await proxy.close()
