"""``GET /metrics`` (auditor or admin token) and the middleware that counts every request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from exchange.errors import Unavailable
from exchange.gateway.appkeys import SERVICES
from exchange.gateway.auth import authenticate
from exchange.metrics import CONTENT_TYPE

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(request: web.Request) -> str:
    """The route's pattern (``/v1/records/{participant}/…``), never the raw path: labels stay few."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics = request.app[SERVICES].metrics
        route = _route(request)
        metrics.requests.labels(route, request.method, str(status)).inc()
        metrics.latency.labels(route, request.method).observe(time.perf_counter() - started)


@routes.get("/metrics")
async def scrape(request: web.Request) -> web.Response:
    await authenticate(request, "auditor")
    services = request.app[SERVICES]
    metrics = services.metrics
    try:
        metrics.queue_depth.set(await services.queue.depth())
        metrics.log_size.set(await services.repository.log_size())
        head = await services.repository.last_seq()
        metrics.feed_head.set(head)
        subscriptions = await services.repository.list_subscriptions()
        active = [s.cursor for s in subscriptions if s.status == "active"]
        metrics.webhook_backlog.set(max((head - c for c in active), default=0))
        metrics.webhook_failing.set(sum(1 for s in subscriptions if s.failing_since or s.status == "paused"))
        if services.relay is not None:
            for state, count in (await services.relay.outbox.counts()).items():
                metrics.relay_entries.labels(state).set(count)
        if services.mirror is not None:
            mirrored = services.mirror.state
            metrics.mirror_behind.set(max(0, mirrored.upstream_size - mirrored.size))
            metrics.mirror_stopped.set(1 if mirrored.stopped else 0)
        metrics.up.set(1)
    except Unavailable:
        metrics.up.set(0)
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})
