"""The one place where failures become HTTP responses (RFC 9457 problem+json)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from exchange import ijson
from exchange.errors import PROBLEM_MEDIA_TYPE, ExchangeError, Problems

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


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, refused with 413 beyond ``limit`` bytes (checked before and while reading)."""
    if request.content_length is not None and request.content_length > limit:
        raise ExchangeError(
            Problems.BODY_TOO_LARGE, f"the body has {request.content_length} bytes; the limit is {limit}"
        )
    # StreamReader.read(n) returns what has arrived so far, not n bytes: read until the end (or past the limit)
    body = bytearray()
    while len(body) <= limit:
        chunk = await request.content.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    if len(body) > limit:
        raise ExchangeError(Problems.BODY_TOO_LARGE, f"the body is larger than {limit} bytes")
    return bytes(body)


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
    except ExchangeError as exc:
        return problem_response(exc, request.path)
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
