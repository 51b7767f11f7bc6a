"""The client transport: back-off, Retry-After, problems, retries only where safe, bounded reads.

Every request goes to a real aiohttp server on loopback; waits are observed through an injected sleep
that records what it was asked for, never through the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web

from exchange.client import Prepared, SubmissionClient
from exchange.transport import (
    LineTooLong,
    Problem,
    ProblemError,
    ResponseTooLarge,
    RetryPolicy,
    Transport,
    Unreachable,
    idempotent,
    iter_lines,
    parse_problem,
    parse_retry_after,
    read_bounded,
)
from tests.loopback import flood, serve

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Recorder:
    """A sleep that waits for nothing and remembers every delay it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def scripted(*answers: tuple[int, dict[str, str]]) -> tuple[web.Application, list[str]]:
    """An app answering each request to any path with the next (status, headers); 200 once spent."""
    script = list(answers)
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        status, headers = script.pop(0) if script else (200, {})
        if status == 200:
            return web.json_response({"ok": True})
        problem = {"type": "about:blank", "title": "Busy", "status": status, "detail": f"try later ({status})"}
        return web.json_response(problem, status=status, headers=headers, content_type="application/problem+json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app, seen


# --- back-off and Retry-After ---------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    policy = RetryPolicy(attempts=8, base_delay=0.5, max_delay=5.0, jitter=False)
    assert [policy.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_keeps_each_wait_between_half_and_all_of_the_backoff() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    assert policy.backoff(3, rand=lambda: 0.0) == 4.0
    assert policy.backoff(3, rand=lambda: 1.0) == 8.0
    assert all(4.0 <= policy.backoff(3) <= 8.0 for _ in range(200))


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=10.0, jitter=False)
    assert policy.delay(0, 2.0) == 2.0
    assert policy.delay(0, 0.0) == 0.1  # never less than the back-off
    assert policy.delay(0, 3600.0) == 10.0  # a server cannot park the client for an hour


def test_retry_after_seconds_dates_and_garbage() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("-5") == 0.0
    later = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=NOW) == 30.0
    assert parse_retry_after(format_datetime(NOW - timedelta(days=1), usegmt=True), now=NOW) == 0.0
    for garbage in (None, "", "soon", "nan", "inf", "Mon, 99 Foo 2026 99:99:99 GMT"):
        assert parse_retry_after(garbage, now=NOW) is None, garbage


# --- problems -------------------------------------------------------------------------------------


def test_problem_members_errors_and_extensions() -> None:
    body = {
        "type": "https://repository.test/problems/invalid",
        "title": "Invalid",
        "status": 422,
        "detail": "the record is invalid",
        "instance": "/v1/submissions/x",
        "errors": [{"pointer": "/record/title", "message": "required"}, "not an object"],
        "trace": "abc",
    }
    problem = parse_problem(422, body)
    assert problem == Problem(
        status=422,
        title="Invalid",
        detail="the record is invalid",
        type="https://repository.test/problems/invalid",
        instance="/v1/submissions/x",
        errors=[{"pointer": "/record/title", "message": "required"}],
        extensions={"trace": "abc"},
    )
    assert problem.message == "the record is invalid"


def test_problem_from_text_bytes_and_nothing() -> None:
    assert parse_problem(502, b"<html>Bad gateway</html>", "Bad Gateway").message == "<html>Bad gateway</html>"
    assert parse_problem(404, b'{"title": "Not Found"}').message == "Not Found"
    assert parse_problem(500, None, "Internal Server Error").message == "Internal Server Error"
    assert parse_problem(400, ["a", "list"]).detail == "['a', 'list']"


# --- retries only where safe ----------------------------------------------------------------------


def test_only_reads_and_submissions_are_safe_to_repeat() -> None:
    assert idempotent("GET", "/v1/records")
    assert idempotent("post", "/v1/submissions")
    assert idempotent("POST", "/v1/submissions:batch")
    assert not idempotent("POST", "/v1/subscriptions")
    assert not idempotent("DELETE", "/v1/subscriptions/1")
    assert not idempotent("PATCH", "/v1/submissions")


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_honoured(status: int) -> None:
    app, seen = scripted((status, {"Retry-After": "2"}), (status, {"Retry-After": "2"}))
    sleep = Recorder()
    async with serve(app) as url, Transport(url, retry=RetryPolicy(base_delay=0.01), sleep=sleep) as transport:
        answer = await transport.request("POST", "/v1/submissions", data=b"{}")
    assert answer.status == 200 and len(seen) == 3
    assert sleep.delays == [2.0, 2.0]


async def test_retry_after_http_date_is_honoured() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    app, _ = scripted((503, {"Retry-After": when}))
    sleep = Recorder()
    async with serve(app) as url, Transport(url, retry=RetryPolicy(base_delay=0.01), sleep=sleep) as transport:
        assert (await transport.get("/v1/info")).status == 200
    [delay] = sleep.delays
    assert 15.0 < delay <= 20.0  # the date's distance from now, whole seconds


async def test_without_retry_after_the_backoff_schedule_is_used() -> None:
    app, seen = scripted((502, {}), (504, {}), (500, {}))
    sleep = Recorder()
    policy = RetryPolicy(attempts=5, base_delay=0.25, max_delay=10.0, jitter=False)
    async with serve(app) as url, Transport(url, retry=policy, sleep=sleep) as transport:
        assert (await transport.get("/v1/changes")).status == 200
    assert sleep.delays == [0.25, 0.5, 1.0] and len(seen) == 4


async def test_the_last_transient_answer_is_returned_when_attempts_are_spent() -> None:
    app, seen = scripted(*[(503, {"Retry-After": "1"})] * 5)
    sleep = Recorder()
    async with serve(app) as url, Transport(url, retry=RetryPolicy(attempts=3), sleep=sleep) as transport:
        answer = await transport.get("/v1/info")
    assert answer.status == 503 and answer.problem.message == "try later (503)"
    assert len(seen) == 3 and len(sleep.delays) == 2


async def test_a_request_unsafe_to_repeat_is_sent_once() -> None:
    app, seen = scripted((503, {"Retry-After": "1"}))
    sleep = Recorder()
    async with serve(app) as url, Transport(url, sleep=sleep) as transport:
        answer = await transport.request("POST", "/v1/subscriptions", data=b"{}")
    assert answer.status == 503 and seen == ["POST /v1/subscriptions"] and sleep.delays == []


async def test_a_client_error_is_not_retried_and_get_json_raises_the_problem() -> None:
    app, seen = scripted((422, {}))
    sleep = Recorder()
    async with serve(app) as url, Transport(url, sleep=sleep) as transport:
        with pytest.raises(ProblemError) as caught:
            await transport.get_json("/v1/records")
    assert caught.value.status == 422 and caught.value.problem.title == "Busy"
    assert len(seen) == 1 and sleep.delays == []


async def test_no_server_is_unreachable_after_every_attempt() -> None:
    async with serve(web.Application()) as url:
        pass  # the port is closed again
    sleep = Recorder()
    retry = RetryPolicy(attempts=3, base_delay=0.1, jitter=False)
    async with Transport(url, retry=retry, sleep=sleep) as transport:
        with pytest.raises(Unreachable, match="/v1/info"):
            await transport.get("/v1/info")
    assert sleep.delays == [0.1, 0.2]


# --- bounded reads --------------------------------------------------------------------------------


def flooding_app() -> web.Application:
    async def endless(request: web.Request) -> web.StreamResponse:
        return await flood(request)

    async def lines(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(b'{"a":1}\n{"b":2}\r\n{"c":3}')
        return response

    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"y" * 5000)

    app = web.Application()
    app.router.add_get("/endless", endless)
    app.router.add_get("/lines", lines)
    app.router.add_get("/sized", sized)
    return app


async def test_a_body_past_the_limit_is_refused_before_it_is_buffered() -> None:
    async with serve(flooding_app()) as url, Transport(url, max_body=1 << 20) as transport:
        with pytest.raises(ResponseTooLarge, match="1048576 bytes"):
            await transport.get("/endless")
        with pytest.raises(ResponseTooLarge):  # refused from its Content-Length
            await transport.get("/sized", max_body=4999)
        assert len((await transport.get("/sized", max_body=5000)).raw) == 5000


async def test_read_bounded_and_lines() -> None:
    async with serve(flooding_app()) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/lines") as response:
            assert [line async for line in iter_lines(response, max_line=16)] == [
                b'{"a":1}\n',
                b'{"b":2}\r\n',
                b'{"c":3}',
            ]
        async with session.get(url + "/lines") as response:
            assert await read_bounded(response, 100) == b'{"a":1}\n{"b":2}\r\n{"c":3}'
        async with session.get(url + "/endless") as response:
            with pytest.raises(LineTooLong, match="longer than 65536 bytes"):
                async for _ in iter_lines(response, max_line=65536):
                    pass


async def test_exchange_submit_honours_the_servers_retry_after() -> None:
    """``exchange submit`` waits what the server's header says, and re-sends the very same bytes."""
    bodies: list[bytes] = []
    script = [(429, "2"), (503, format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True))]

    async def submissions(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        if script:
            status, after = script.pop(0)
            problem = {"title": "Busy", "status": status, "detail": "slow down"}
            return web.json_response(problem, status=status, headers={"Retry-After": after})
        return web.json_response({"submission_id": "s-1", "status": "received"}, status=202)

    app = web.Application()
    app.router.add_post("/v1/submissions", submissions)
    sleep = Recorder()
    prepared = Prepared("GBR", "s-1", b'{"payload":"x","signature":"y"}')
    async with serve(app) as url, SubmissionClient(url, sleep=sleep) as client:
        status, body = await client.submit(prepared)
    assert status == 202 and body["status"] == "received"
    assert bodies == [prepared.body] * 3
    assert sleep.delays[0] == 2.0 and 15.0 < sleep.delays[1] <= 20.0
