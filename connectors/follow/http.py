"""The follower's HTTP side, on the shared transport: JSON and text requests, and one SSE connection.

Network errors, 5xx and 429 are retried by :class:`~exchange.transport.Transport` with growing
back-off (honouring ``Retry-After``); after the last attempt :class:`Unreachable` is raised. Any other
refusal (a 4xx) raises :class:`Refused` (a :class:`~exchange.transport.ProblemError`) at once. Every
body is read up to :data:`MAX_BODY` bytes and every event-stream line up to :data:`MAX_LINE` bytes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from exchange.transport import (
    RETRYABLE_STATUSES,
    ProblemError,
    ResponseTooLarge,
    RetryPolicy,
    Transport,
    TransportError,
    Unreachable,
    iter_lines,
    parse_problem,
    parse_retry_after,
)

__all__ = [
    "MAX_BODY",
    "MAX_LINE",
    "RETRY",
    "Event",
    "EventParser",
    "FeedClient",
    "Refused",
    "Transient",
    "Unreachable",
    "query",
]

Params = Sequence[tuple[str, str]]

#: The largest answer the follower reads (a page of 1000 changes with their records and JWS):
#: 256 MiB, generous for any page, and a bound on what a broken server can make it buffer.
MAX_BODY = 256 * 1024 * 1024
#: The longest event-stream line, and the most ``data`` one event may carry (a change with its record).
MAX_LINE = 16 * 1024 * 1024
#: The follower's default retries: ten attempts, 0.5 s doubling up to 30 s.
RETRY = RetryPolicy(attempts=10, base_delay=0.5, max_delay=30.0)

#: The repository refused a request (a 4xx other than 429); carries the problem and its status.
Refused = ProblemError


class Transient(TransportError):
    """One connection to the event stream failed in a way worth reconnecting; ``retry_after`` is the hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched Server-Sent Event."""

    id: str | None
    event: str
    data: str


@dataclass
class EventParser:
    """The ``text/event-stream`` framing: fields up to a blank line make one event; comments are skipped."""

    retry_ms: int | None = None
    last_id: str | None = None
    max_data: int = MAX_LINE
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _size: int = 0

    def feed(self, line: str) -> Event | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._size += len(value) + 1
            if self._size > self.max_data:
                raise ResponseTooLarge(self.max_data)
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        if self._id is not None:
            self.last_id = self._id
        event = Event(self._id, self._event or "message", "\n".join(self._data)) if self._data else None
        self._event, self._data, self._id, self._size = "", [], None, 0
        return event


async def _refusal(response: aiohttp.ClientResponse, what: str) -> ProblemError:
    problem = parse_problem(response.status, await response.content.read(500), response.reason or "")
    return ProblemError(problem, f"{what} answered {response.status}: {problem.message}".rstrip(": "))


class FeedClient:
    """Requests to one repository, with retries; close with :meth:`close` (or ``async with``)."""

    def __init__(self, url: str, *, token: str | None = None, retry: RetryPolicy | None = None) -> None:
        self.transport = Transport(url, token=token, retry=retry or RETRY, max_body=MAX_BODY)
        self.url = self.transport.url
        self.retry = self.transport.retry

    @property
    def on_retry(self) -> list[Callable[[str], None]]:
        """Hooks told why each retry happens."""
        return self.transport.on_retry

    async def __aenter__(self) -> FeedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    async def get_text(self, path: str, params: Params = (), timeout: float = 60.0) -> str:
        """The body of a GET, retried on network errors, 5xx and 429."""
        answer = await self.transport.get(path, params=list(params), timeout=timeout)
        if answer.status in RETRYABLE_STATUSES or answer.status >= 500:
            raise Unreachable(
                f"{self.url}: GET {path} answered {answer.status}: {answer.problem.message} "
                f"(gave up after {self.retry.attempts} attempts)",
                answer.status,
            )
        if answer.status >= 400:
            raise ProblemError(answer.problem, f"GET {path} answered {answer.status}: {answer.problem.message}")
        return answer.raw.decode("utf-8", errors="replace")

    async def get_json(self, path: str, params: Params = (), timeout: float = 60.0) -> Any:
        text = await self.get_text(path, params, timeout)
        try:
            return loads(text)
        except ValueError:
            raise ProblemError(parse_problem(200, None), f"GET {path} did not answer JSON") from None

    async def events(
        self,
        params: Params,
        last_event_id: str | None,
        idle_timeout: float,
        opened: Callable[[], None] | None = None,
    ) -> AsyncGenerator[Event, None]:
        """The events of one connection to the change stream, until it ends.

        Raises :class:`Transient` when it drops (worth reconnecting), :class:`Refused` when refused,
        :class:`~exchange.transport.ResponseTooLarge` for a line or event past :data:`MAX_LINE`.
        ``opened`` is called once the stream is accepted. A stream silent for ``idle_timeout`` seconds
        (not even a heartbeat) counts as dropped.
        """
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30, sock_read=idle_timeout)
        parser = EventParser()
        try:
            async with self.transport.session.get(
                self.url + "/v1/changes", params=list(params), headers=headers, timeout=timeout
            ) as response:
                if response.status >= 500 or response.status == 429:
                    hint = parse_retry_after(response.headers.get("Retry-After"))
                    raise Transient(f"the event stream answered {response.status}", hint)
                if response.status >= 400:
                    raise await _refusal(response, "the event stream")
                if response.content_type != "text/event-stream":
                    raise ProblemError(
                        parse_problem(response.status, None), f"the event stream answered {response.content_type}"
                    )
                if opened is not None:
                    opened()
                async for raw in iter_lines(response, MAX_LINE):
                    event = parser.feed(raw.decode("utf-8"))
                    if event is not None:
                        yield event
        except (aiohttp.ClientError, OSError, TimeoutError, UnicodeDecodeError) as exc:
            raise Transient(f"the event stream: {exc.__class__.__name__} {exc}".strip()) from None
        raise Transient("the event stream ended")


def query(base: Mapping[str, str], filters: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Query parameters: ``base`` then one ``name=value`` per filter value."""
    return [*base.items(), *((name, value) for name, values in filters.items() for value in values)]


def loads(text: str) -> Any:
    """``json.loads(text)``, decoded by orjson (several times faster) wherever orjson reads the same value;
    what orjson refuses (NaN, integers past 64 bits, lone surrogates…) the standard library reads as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
