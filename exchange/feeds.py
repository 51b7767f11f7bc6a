"""Following the change feed: waiting for new changes, sharing them, and Server-Sent Events framing.

A process learns that the feed grew by polling the highest committed ``seq`` while anyone waits
(commits may come from worker processes it cannot hear), and at once when its own worker commits.
Readers then query the repository from their last ``seq``: a change becomes readable exactly when
its record version does, and ``seq`` order is commit order, so nothing is skipped.

Many followers in one process (event streams, webhook deliverers) want the same new changes at the
same moment: :class:`RecentChanges` reads each new change once, with its content and JWS, and serves
every follower from memory; a follower too far behind for it reads the repository itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from typing import Any

from exchange import ijson
from exchange.models import Change, ChangeQuery
from exchange.repository.port import Feeds
from exchange.visibility import PUBLIC, Viewer


class ChangeNotifier:
    def __init__(self, repository: Feeds, interval: float = 0.1) -> None:
        self._repository = repository
        self._interval = interval
        self._head = -1
        self._grew = asyncio.Condition()
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None

    @property
    def head(self) -> int:
        """The highest ``seq`` known to be committed; -1 before the first poll or commit."""
        return self._head

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


class RecentChanges:
    """The newest changes of the feed, each read once with its content and JWS, shared by every
    follower of this process (at most ``size`` changes and about ``max_bytes`` of them)."""

    _FILL = 200  # changes read per query while catching up

    def __init__(
        self, repository: Feeds, notifier: ChangeNotifier, size: int = 2048, max_bytes: int = 32 * 2**20
    ) -> None:
        self._repository = repository
        self._notifier = notifier
        self._size = size
        self._max_bytes = max_bytes
        self._changes: deque[Change] = deque()
        self._bytes: deque[int] = deque()
        self._held = 0
        self._last = -1  # the highest seq held (every seq up to it since the first held is held)
        self._lock = asyncio.Lock()

    async def read(self, query: ChangeQuery) -> tuple[list[Change], int]:
        """The changes after ``query.since`` that match it (at most ``query.limit``), and the feed's head
        as this process knows it: every change up to the head was considered."""
        head = await self._refresh()
        first = self._changes[0].seq if self._changes else self._last + 1
        if query.since + 1 < first:  # older than what is held: this follower reads the repository
            return await self._repository.list_changes(query), head
        out: list[Change] = []
        for i in range(query.since + 1 - first, len(self._changes)):
            change = self._changes[i]
            if _matches(change, query):
                out.append(_trimmed(change, query))
                if len(out) == query.limit:
                    return out, change.seq
        return out, head

    async def _refresh(self) -> int:
        head = self._notifier.head
        if head < 0:  # nothing polled or committed yet in this process
            head = await self._repository.last_seq()
            self._notifier.poke(head)
        if head <= self._last:
            return self._last
        async with self._lock:
            if self._last < 0:
                self._last = max(0, head - self._size // 4)  # start with some of the newest changes
            while self._last < head:
                batch = await self._repository.list_changes(
                    ChangeQuery(since=self._last, limit=self._FILL, include_content=True, include_jws=True)
                )
                if not batch:
                    break
                for change in batch:
                    self._hold(change)
        return self._last

    def _hold(self, change: Change) -> None:
        weight = 2 * len(change.jws or "") + 256  # the content is about as large as its JWS
        self._changes.append(change)
        self._bytes.append(weight)
        self._held += weight
        self._last = change.seq
        while len(self._changes) > self._size or (self._held > self._max_bytes and len(self._changes) > 1):
            self._changes.popleft()
            self._held -= self._bytes.popleft()


def _matches(change: Change, query: ChangeQuery) -> bool:
    return (
        (not query.kinds or change.key.kind in query.kinds)
        and (not query.participants or change.key.participant in query.participants)
        and (not query.jurisdictions or change.jurisdiction in query.jurisdictions)
    )


def _trimmed(change: Change, query: ChangeQuery) -> Change:
    if query.include_content and query.include_jws:
        return change
    return dataclasses.replace(
        change,
        content_json=change.content_json if query.include_content else None,
        accepted_at=change.accepted_at if query.include_content else None,
        review=change.review if query.include_content else None,
        jws=change.jws if query.include_jws else None,
    )


def sse_event(change: Change, include: frozenset[str], viewer: Viewer = PUBLIC) -> bytes:
    data = ijson.dumps(change.seen_by(viewer, include)).decode()
    return f"id: {change.seq}\nevent: change\ndata: {data}\n\n".encode()


def sse_comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


def page(
    changes: list[Change], include: frozenset[str], head: int, since: int, limit: int, viewer: Viewer = PUBLIC
) -> dict[str, Any]:
    """A pull-feed page. ``last_seq`` is where the next request starts: past every change this one covered.

    A change ``viewer`` may not see is a placeholder with its seq alone (:meth:`Change.seen_by`).
    """
    last = changes[-1].seq if changes else since
    if len(changes) < limit:
        last = max(last, head)
    return {"results": [c.seen_by(viewer, include) for c in changes], "last_seq": last}
