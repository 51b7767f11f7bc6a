"""Following the change feed: waiting for new changes, and Server-Sent Events framing.

A process learns that the feed grew by polling the highest committed ``seq`` while anyone waits
(commits may come from worker processes it cannot hear), and at once when its own worker commits.
Readers then query the repository from their last ``seq``: a change becomes readable exactly when
its record version does, and ``seq`` order is commit order, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from exchange import ijson
from exchange.models import Change
from exchange.repository.port import Feeds


class ChangeNotifier:
    def __init__(self, repository: Feeds, interval: float = 0.1) -> None:
        self._repository = repository
        self._interval = interval
        self._head = -1
        self._grew = asyncio.Condition()
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None

    def poke(self, seq: int) -> None:
        """This process committed up to ``seq``: wake the waiters now."""
        if seq > self._head:
            self._head = seq
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._grew:
            self._grew.notify_all()

    async def _poll(self) -> None:
        try:
            while self._waiters:
                with contextlib.suppress(Exception):  # a database hiccup: try again on the next tick
                    head = await self._repository.last_seq()
                    if head > self._head:
                        self._head = head
                        await self._notify()
                await asyncio.sleep(self._interval)
        finally:
            self._poller = None

    async def wait_beyond(self, seq: int, timeout: float) -> bool:
        """Wait until the feed holds a change after ``seq``, at most ``timeout`` seconds."""
        if self._head > seq:
            return True
        self._waiters += 1
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll())
        try:
            async with self._grew:
                await asyncio.wait_for(self._grew.wait_for(lambda: self._head > seq), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters -= 1


def sse_event(change: Change, include: frozenset[str]) -> bytes:
    data = ijson.dumps(change.as_dict(include)).decode()
    return f"id: {change.seq}\nevent: change\ndata: {data}\n\n".encode()


def sse_comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


def page(changes: list[Change], include: frozenset[str], head: int, since: int, limit: int) -> dict[str, Any]:
    """A pull-feed page. ``last_seq`` is where the next request starts: past every change this one covered."""
    last = changes[-1].seq if changes else since
    if len(changes) < limit:
        last = max(last, head)
    return {"results": [c.as_dict(include) for c in changes], "last_seq": last}
