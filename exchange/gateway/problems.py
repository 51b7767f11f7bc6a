"""The one place where failures become HTTP responses (RFC 9457 problem+json)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from exchange import ijson
from exchange.errors import PROBLEM_MEDIA_TYPE, ExchangeError, Problems, Unavailable

log = logging.getLogger("exchange.gateway")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_response(error: ExchangeError, instance: str | None = None) -> web.Response:
    return web.Response(
        status=error.problem.status,
        body=ijson.dumps(error.to_problem(instance)),
        content_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None, media_type: str = "application/json"
) -> web.Response:
    return web.Response(status=status, body=ijson.dumps(data), content_type=media_type, headers=headers)


def _check_length(request: web.Request, limit: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise ExchangeError(
            Problems.BODY_TOO_LARGE, f"the body has {request.content_length} bytes; the limit is {limit}"
        )


def _too_slow(timeout: float) -> ExchangeError:
    return ExchangeError(Problems.BODY_TIMEOUT, f"the whole body must arrive within {timeout:g} seconds")


async def read_body(request: web.Request, limit: int, timeout: float) -> bytes:
    """The whole request body, refused with 413 beyond ``limit`` bytes (checked before and while reading)
    and with 408 when it has not all arrived within ``timeout`` seconds (a slow client holds no slot long)."""
    _check_length(request, limit)
    # StreamReader.read(n) returns what has arrived so far, not n bytes: read until the end (or past the limit)
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while len(body) <= limit:
                chunk = await request.content.read(limit + 1 - len(body))
                if not chunk:
                    break
                body += chunk
    except TimeoutError:
        raise _too_slow(timeout) from None
    if len(body) > limit:
        raise ExchangeError(Problems.BODY_TOO_LARGE, f"the body is larger than {limit} bytes")
    return bytes(body)


async def read_lines(request: web.Request, limit: int, line_limit: int, timeout: float) -> list[tuple[int, bytes]]:
    """The non-blank lines of a body with their 1-based line numbers, read as they arrive.

    The body is never held twice: each chunk is split at once and only its lines are kept. Refused with
    413 beyond ``limit`` bytes in all or ``line_limit`` bytes in one line, 408 past ``timeout`` seconds.
    """
    _check_length(request, limit)
    lines: list[tuple[int, bytes]] = []
    pending = bytearray()
    number = total = 0

    def finish(raw: bytes | bytearray) -> None:
        nonlocal number
        number += 1
        if raw.strip():
            lines.append((number, bytes(raw)))

    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_any():
                total += len(chunk)
                if total > limit:
                    raise ExchangeError(Problems.BODY_TOO_LARGE, f"the body is larger than {limit} bytes")
                pending += chunk
                *complete, rest = pending.split(b"\n")
                for raw in complete:
                    finish(raw)
                pending = bytearray(rest)
                if len(pending) > line_limit:
                    raise ExchangeError(Problems.BODY_TOO_LARGE, f"line {number + 1} is longer than {line_limit} bytes")
    except TimeoutError:
        raise _too_slow(timeout) from None
    if pending:
        finish(pending)
    return lines


_UNAVAILABLE_DETAIL = "the repository's database or queue is temporarily unavailable; retry later"

_HTTP_PROBLEMS = {
    404: Problems.NOT_FOUND,
    405: Problems.METHOD_NOT_ALLOWED,
    413: Problems.BODY_TOO_LARGE,
    415: Problems.UNSUPPORTED_MEDIA_TYPE,
}


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Unavailable as exc:
        # The reason names the backend and what its driver said: for the operator's log, not the client.
        log.warning("backend unavailable", extra={"path": request.path, "reason": exc.detail})
        public = Unavailable(_UNAVAILABLE_DETAIL, retry_after=int(exc.headers.get("Retry-After", "1")))
        return problem_response(public, request.path)
    except ExchangeError as exc:
        return problem_response(exc, request.path)
    except ConnectionResetError:
        # The client went away before its body arrived: nothing to answer, and no fault of ours.
        log.debug("client disconnected", extra={"path": request.path})
        return problem_response(ExchangeError(Problems.BAD_REQUEST, "the client disconnected"), request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        problem = _HTTP_PROBLEMS.get(exc.status)
        if problem is None:
            problem = Problems.BAD_REQUEST if exc.status < 500 else Problems.INTERNAL
        detail = exc.text or problem.title
        if exc.status == 405:
            detail = f"{request.method} is not allowed on {request.path}"
        elif exc.status == 404:
            detail = f"nothing at {request.path}"
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return problem_response(ExchangeError(problem, detail, headers=headers), request.path)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return problem_response(ExchangeError(Problems.INTERNAL, "an internal error occurred"), request.path)
