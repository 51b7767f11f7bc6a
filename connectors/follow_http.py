"""The follower's HTTP side: JSON and text requests with retries, and one Server-Sent Events connection.

Network errors, 5xx and 429 are retried with growing back-off (honouring ``Retry-After``); after the
last attempt :class:`Unreachable` is raised. Any other refusal (a 4xx) raises :class:`Refused` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Event", "EventParser", "FeedClient", "Refused", "Retry", "Transient", "Unreachable", "query"]

Params = Sequence[tuple[str, str]]


class Unreachable(Exception):
    """The repository could not be reached (or kept failing) after every retry."""


class Refused(Exception):
    """The repository answered a request with a client error (4xx other than 429)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Transient(Exception):
    """One attempt failed in a way worth retrying; ``retry_after`` is the server's hint, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Retry:
    """``attempts`` tries in all, waiting ``base``, ``2·base``, ``4·base`` … (at most ``cap``) between them."""

    attempts: int = 10
    base: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int, hint: float | None = None) -> float:
        wait = min(self.cap, self.base * float(2 ** max(0, failures - 1)))
        return min(self.cap, max(wait, hint)) if hint is not None else wait


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
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

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
        self._event, self._data, self._id = "", [], None
        return event


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


async def _problem(response: aiohttp.ClientResponse) -> str:
    text = (await response.text(errors="replace"))[:500]
    with contextlib.suppress(ValueError):
        body = json.loads(text)
        if isinstance(body, dict) and (body.get("detail") or body.get("title")):
            return str(body.get("detail") or body.get("title"))
    return text.strip() or (response.reason or "")


class FeedClient:
    """Requests to one repository, with retries; close with :meth:`close` (or ``async with``)."""

    def __init__(self, url: str, *, token: str | None = None, retry: Retry | None = None) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or Retry()
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        self.on_retry: list[Callable[[str], None]] = []

    async def __aenter__(self) -> FeedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _once(self, path: str, params: Params, timeout: float) -> tuple[str, str]:
        """One GET: ``(content type, body)``; Transient or Refused on failure."""
        try:
            async with self._client().get(
                self.url + path, params=list(params), timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                if response.status >= 500 or response.status == 429:
                    raise Transient(
                        f"GET {path} answered {response.status}: {await _problem(response)}", _retry_after(response)
                    )
                if response.status >= 400:
                    raise Refused(response.status, f"GET {path} answered {response.status}: {await _problem(response)}")
                return response.content_type, await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise Transient(f"GET {path}: {exc.__class__.__name__} {exc}".strip()) from None

    async def get_text(self, path: str, params: Params = (), timeout: float = 60.0) -> str:
        """The body of a GET, retried on network errors, 5xx and 429."""
        failures = 0
        while True:
            try:
                return (await self._once(path, params, timeout))[1]
            except Transient as exc:
                failures += 1
                if failures >= self.retry.attempts:
                    raise Unreachable(f"{self.url}: {exc} (gave up after {failures} attempts)") from None
                for hook in self.on_retry:
                    hook(str(exc))
                await asyncio.sleep(self.retry.delay(failures, exc.retry_after))

    async def get_json(self, path: str, params: Params = (), timeout: float = 60.0) -> Any:
        text = await self.get_text(path, params, timeout)
        try:
            return json.loads(text)
        except ValueError:
            raise Refused(200, f"GET {path} did not answer JSON") from None

    async def events(
        self,
        params: Params,
        last_event_id: str | None,
        idle_timeout: float,
        opened: Callable[[], None] | None = None,
    ) -> AsyncGenerator[Event, None]:
        """The events of one connection to the change stream, until it ends; Transient/Refused on failure.

        ``opened`` is called once the stream is accepted. A stream silent for ``idle_timeout`` seconds
        (not even a heartbeat) counts as dropped.
        """
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30, sock_read=idle_timeout)
        parser = EventParser()
        try:
            async with self._client().get(
                self.url + "/v1/changes", params=list(params), headers=headers, timeout=timeout
            ) as response:
                if response.status >= 500 or response.status == 429:
                    raise Transient(f"the event stream answered {response.status}", _retry_after(response))
                if response.status >= 400:
                    raise Refused(response.status, f"the event stream answered {response.status}")
                if response.content_type != "text/event-stream":
                    raise Refused(response.status, f"the event stream answered {response.content_type}")
                if opened is not None:
                    opened()
                async for raw in response.content:
                    event = parser.feed(raw.decode("utf-8"))
                    if event is not None:
                        yield event
        except (aiohttp.ClientError, OSError, TimeoutError, UnicodeDecodeError) as exc:
            raise Transient(f"the event stream: {exc.__class__.__name__} {exc}".strip()) from None
        raise Transient("the event stream ended")


def query(base: Mapping[str, str], filters: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Query parameters: ``base`` then one ``name=value`` per filter value."""
    return [*base.items(), *((name, value) for name, values in filters.items() for value in values)]
