"""The one HTTP client transport every client of a repository builds on (SDK, follower, auditor, CLI).

It is client-side only (connectors may import it, DESIGN §13) and holds what every client needs the
same way: timeouts, retries of transient failures with exponential back-off and jitter that honour the
server's ``Retry-After`` header, retries only of requests safe to repeat, RFC 9457 problems parsed into
a typed :class:`Problem`, one error hierarchy, and **bounded reads**: no remote body or line is ever
buffered past a byte limit, so a hostile or broken peer cannot exhaust the client's memory.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_LINE",
    "RETRYABLE_STATUSES",
    "Answer",
    "LineTooLong",
    "Problem",
    "ProblemError",
    "ResponseTooLarge",
    "RetryPolicy",
    "Sleep",
    "Transport",
    "TransportError",
    "Unreachable",
    "idempotent",
    "iter_lines",
    "parse_problem",
    "parse_retry_after",
    "read_bounded",
]

#: The largest body a client reads by default (64 MiB): far above any page, record or proof the
#: repository serves, far below what would hurt the client's memory.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
#: The longest line of an SSE or NDJSON stream read by default (4 MiB, a change event with its record).
DEFAULT_MAX_LINE = 4 * 1024 * 1024
#: Statuses that say "try again later": the same request may succeed then.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Paths whose POST is idempotent: a submission carries its ``submission_id``, so a re-send of the same
#: bytes can never make a second version (DESIGN §4).
IDEMPOTENT_POSTS = frozenset({"/v1/submissions", "/v1/submissions:batch"})

Sleep = Callable[[float], Awaitable[None]]


class TransportError(Exception):
    """A request to a repository did not give a usable answer; the message says why.

    ``status`` and ``body`` are the HTTP status and parsed body of the answer, when there was one.
    """

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class Unreachable(TransportError):
    """No answer (network errors, timeouts) or only transient failures after every allowed attempt."""


class ResponseTooLarge(TransportError):
    """A body longer than the reader's limit; reading stopped at the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is longer than {limit} bytes")
        self.limit = limit


class LineTooLong(ResponseTooLarge):
    """A line of a stream longer than the reader's limit; reading stopped at the limit."""

    def __init__(self, limit: int) -> None:
        TransportError.__init__(self, f"a line of the stream is longer than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457 problem (``application/problem+json``) and the repository's ``errors`` extension."""

    status: int
    title: str = ""
    detail: str = ""
    type: str = "about:blank"
    instance: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """What a person should read: the detail, else the title."""
        return self.detail or self.title


class ProblemError(TransportError):
    """The repository refused the request with a problem (a 4xx, or a 5xx after every retry)."""

    def __init__(self, problem: Problem, message: str | None = None, body: Any = None) -> None:
        super().__init__(message or f"HTTP {problem.status}: {problem.message}", problem.status, body)
        self.problem = problem
        self.status: int = problem.status


_MEMBERS = ("type", "title", "status", "detail", "instance", "errors")


def parse_problem(status: int, body: Any, reason: str = "") -> Problem:
    """A :class:`Problem` from a parsed body (or raw text), tolerant of anything a peer may send."""
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="replace")
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = text
    if isinstance(body, dict):
        errors = body.get("errors")
        return Problem(
            status=status,
            title=str(body.get("title") or reason or ""),
            detail=str(body.get("detail") or ""),
            type=str(body.get("type") or "about:blank"),
            instance=str(body["instance"]) if body.get("instance") is not None else None,
            errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
            extensions={k: v for k, v in body.items() if k not in _MEMBERS},
        )
    text = str(body).strip()[:500] if body is not None else ""
    return Problem(status=status, title=reason, detail=text)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date; None for garbage."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all; waits ``base_delay · 2^n`` (at most ``max_delay``), with jitter.

    A server's ``Retry-After`` is honoured (never waited less), capped by ``max_delay`` so that a
    hostile or careless server cannot park a client for hours.
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: bool = True

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt number ``attempt`` (0-based), in [½·b, b] with jitter."""
        wait = min(self.max_delay, self.base_delay * float(2 ** max(0, attempt)))
        return wait * (0.5 + rand() / 2) if self.jitter else wait

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before the next attempt: the back-off, or the server's hint when longer (capped)."""
        wait = self.backoff(attempt)
        if retry_after is not None:
            return float(min(self.max_delay, max(retry_after, wait)))
        return float(wait)


def idempotent(method: str, path: str) -> bool:
    """Whether a request is safe to repeat: GET/HEAD, and POST of submissions (idempotent by id)."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return True
    return method == "POST" and path.split("?", 1)[0] in IDEMPOTENT_POSTS


async def read_bounded(response: aiohttp.ClientResponse, limit: int = DEFAULT_MAX_BODY) -> bytes:
    """The whole body, or :class:`ResponseTooLarge` once it passes ``limit`` bytes (never more read)."""
    if response.content_length is not None and response.content_length > limit:
        raise ResponseTooLarge(limit)
    buffer = bytearray()
    while True:
        chunk = await response.content.read(limit + 1 - len(buffer))
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > limit:
            raise ResponseTooLarge(limit)


async def iter_lines(response: aiohttp.ClientResponse, max_line: int = DEFAULT_MAX_LINE) -> AsyncIterator[bytes]:
    """The lines of a stream (with their ``\\n``); :class:`LineTooLong` once one passes ``max_line`` bytes."""
    buffer = bytearray()
    scanned = 0  # bytes of the buffer already known to hold no newline
    while True:
        chunk = await response.content.readany()
        if not chunk:
            if buffer:
                yield bytes(buffer)
            return
        buffer += chunk
        while (end := buffer.find(b"\n", scanned)) >= 0:
            if end > max_line:
                raise LineTooLong(max_line)
            line = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            scanned = 0
            yield line
        scanned = len(buffer)
        if len(buffer) > max_line:
            raise LineTooLong(max_line)


def _decode(data: bytes) -> Any:
    if not data:
        return None
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return {"detail": text[:500]}


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: status, headers and the JSON body (``{"detail": text}`` when not JSON, None if empty)."""

    status: int
    body: Any
    headers: Mapping[str, str]
    content_type: str
    raw: bytes

    @property
    def problem(self) -> Problem:
        return parse_problem(self.status, self.body)


class Transport:
    """Requests to one repository: one session, timeouts, bounded bodies, retries where safe.

    ``sleep`` is the wait between attempts (replaceable, so a test can record the decisions);
    ``on_retry`` hooks hear why each retry happens.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 30.0,
        read_timeout: float = 60.0,
        total_timeout: float | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.max_body = max_body
        self.sleep = sleep
        self.on_retry: list[Callable[[str], None]] = []
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout, sock_connect=connect_timeout, connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session, opened at first use."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _once(
        self,
        method: str,
        path: str,
        params: Any,
        data: bytes | None,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout | None,
        max_body: int,
    ) -> Answer:
        async with self.session.request(
            method,
            self.url + path,
            params=params,
            data=data,
            headers=dict(headers),
            timeout=timeout or self._timeout,
            allow_redirects=False,
        ) as response:
            raw = await read_bounded(response, max_body)
            return Answer(response.status, _decode(raw), response.headers, response.content_type, raw)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
        timeout: float | None = None,
        max_body: int | None = None,
    ) -> Answer:
        """One request, retried on transient failures when it is safe to repeat.

        Returns the last answer, whatever its status (a 5xx or 429 too, once the attempts are spent);
        raises :class:`Unreachable` when no answer came, :class:`ResponseTooLarge` past ``max_body``.
        """
        sent = dict(headers or {})
        if content_type:
            sent["Content-Type"] = content_type
        per_call = aiohttp.ClientTimeout(total=timeout) if timeout is not None else None
        attempts = self.retry.attempts if retry and idempotent(method, path) else 1
        last = ""
        for attempt in range(max(1, attempts)):
            hint: float | None = None
            try:
                answer = await self._once(method, path, params, data, sent, per_call, max_body or self.max_body)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if answer.status not in RETRYABLE_STATUSES or attempt == attempts - 1:
                    return answer
                hint = parse_retry_after(answer.headers.get("Retry-After"))
                last = f"HTTP {answer.status}: {answer.problem.message}"
            if attempt < attempts - 1:
                for hook in self.on_retry:
                    hook(f"{method} {path}: {last}")
                await self.sleep(self.retry.delay(attempt, hint))
        raise Unreachable(f"{self.url}{path}: {last}")

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        """The JSON body of a 200 answer; :class:`ProblemError` for any other status or a non-JSON body."""
        answer = await self.get(path, **kwargs)
        if answer.status != 200:
            raise ProblemError(answer.problem, f"GET {path} answered {answer.status}: {answer.problem.message}")
        try:
            return json.loads(answer.raw)
        except ValueError:
            raise ProblemError(Problem(200, detail="not JSON"), f"GET {path} did not answer JSON") from None
