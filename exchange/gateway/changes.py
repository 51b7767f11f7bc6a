"""The change feed over HTTP: pull, long-poll and Server-Sent Events, resumable from any ``seq``."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from aiohttp import web

from exchange.feeds import page, sse_comment, sse_event
from exchange.gateway import query as qs
from exchange.gateway.appkeys import SERVICES, STOPPING
from exchange.gateway.auth import viewer
from exchange.gateway.problems import json_response
from exchange.models import KINDS, ChangeQuery
from exchange.visibility import Viewer

routes = web.RouteTableDef()
MAX_LIMIT = 1000
MAX_TIMEOUT = 120.0
_PARAMS = {"since", "limit", "kind", "participant", "jurisdiction", "feed", "timeout", "include"}


def parse_query(request: web.Request) -> tuple[ChangeQuery, frozenset[str], str, float]:
    qs.only(request, _PARAMS)
    include = frozenset(qs.values(request, "include"))
    if include - {"record", "jws"}:
        raise qs.bad("include", "include takes record and/or jws")
    kinds = qs.values(request, "kind")
    if set(kinds) - set(KINDS):
        raise qs.bad("kind", f"kind takes {', '.join(KINDS)}")
    feed = request.query.get("feed", "normal")
    if feed not in ("normal", "longpoll", "eventsource"):
        raise qs.bad("feed", "feed is normal, longpoll or eventsource")
    since = qs.integer(request, "since", 0)
    last_event = request.headers.get("Last-Event-ID")
    if last_event is not None:
        resumed = qs.parse_count(last_event)
        if resumed is None:
            raise qs.bad("Last-Event-ID", "Last-Event-ID must be a seq this feed sent")
        if feed == "eventsource":
            since = resumed
    query = ChangeQuery(
        since=since,
        limit=qs.integer(request, "limit", 100, 1, MAX_LIMIT),
        kinds=kinds,
        participants=qs.values(request, "participant"),
        jurisdictions=qs.values(request, "jurisdiction"),
        include_content="record" in include,
        include_jws="jws" in include,
    )
    return query, include, feed, qs.number(request, "timeout", 30.0, 0, MAX_TIMEOUT)


@routes.get("/v1/changes")
async def changes(request: web.Request) -> web.StreamResponse:
    query, include, feed, timeout = parse_query(request)
    reader = await viewer(request)
    if feed == "eventsource":
        return await _stream(request, query, include, reader)
    services = request.app[SERVICES]
    head = await services.repository.last_seq()
    found = await services.repository.list_changes(query)
    if not found and feed == "longpoll" and await services.notifier.wait_beyond(max(head, query.since), timeout):
        head = await services.repository.last_seq()
        found = await services.repository.list_changes(query)
    body = page(found, include, head, query.since, query.limit, reader)
    # what a page holds depends on who reads it (changes it may not see are placeholders)
    tag = hashlib.sha256(f"{request.query_string}|{body['last_seq']}|{len(found)}|{reader}".encode()).hexdigest()[:32]
    headers = {"ETag": f'"{tag}"', "Cache-Control": "no-cache", "Vary": "Authorization"}
    if headers["ETag"] in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return json_response(body, headers=headers)


async def _stream(
    request: web.Request, query: ChangeQuery, include: frozenset[str], reader: Viewer
) -> web.StreamResponse:
    services = request.app[SERVICES]
    settings = services.settings
    stopping = request.app[STOPPING]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)

    async def send(chunk: bytes) -> None:
        # a client that stops reading is dropped (it resumes from its last id), never buffered without bound
        await asyncio.wait_for(response.write(chunk), timeout=settings.feed_write_timeout)

    since = query.since
    await send(b"retry: 2000\n\n")
    try:
        while not stopping.is_set():
            batch, head = await services.recent.read(replace(query, since=since, limit=100))
            for change in batch:
                await send(sse_event(change, include, reader))
                since = change.seq
            if len(batch) == 100:
                continue
            since = max(since, head)  # every change up to head that matches was sent
            if not await _wait(services.notifier.wait_beyond(since, settings.feed_heartbeat), stopping):
                await send(sse_comment("heartbeat"))
    except (ConnectionResetError, TimeoutError):
        pass
    return response


async def _wait(grew: Coroutine[Any, Any, bool], stopping: asyncio.Event) -> bool:
    """Wait for the feed to grow, or for the server to stop; True when it grew."""
    waiter = asyncio.ensure_future(grew)
    stopper = asyncio.ensure_future(stopping.wait())
    done, pending = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return waiter in done and waiter.result()
