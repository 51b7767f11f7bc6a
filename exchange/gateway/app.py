"""The application factory: the only place the HTTP app is assembled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web

from exchange import portal
from exchange.coverage import CoverageIndex, instruments
from exchange.errors import ExchangeError, Problems, Unavailable
from exchange.federation import routes as witness_routes
from exchange.gateway import (
    audit,
    changes,
    coordination,
    coverage,
    info,
    metrics,
    records,
    registry,
    report,
    reviews,
    submissions,
    subscriptions,
    transparency,
)
from exchange.gateway import (
    query as qs,
)
from exchange.gateway.appkeys import BATCH_SLOTS, COVERAGE, SERVICES, STOPPING, TOKEN_LIMITER
from exchange.gateway.problems import Handler, problems_middleware
from exchange.ratelimit import RateLimiter
from exchange.services import Services, open_services
from exchange.settings import Settings
from exchange.validation.catalogue import Catalogue

log = logging.getLogger("exchange.gateway")

#: Work run beside the HTTP server for the app's lifetime (``exchange serve``'s in-process workers):
#: called with the services and a stop event; must return once the event is set.
Background = Callable[[Services, asyncio.Event], Coroutine[Any, Any, None]]


async def _warm(index: CoverageIndex, services: Services) -> None:
    """Build the coverage index from the feed at start-up, so that the first reader does not wait for it."""
    try:
        await index.current(services.repository)
    except Unavailable:
        log.info("coverage index not built at start-up: the database is unavailable; the first read will build it")


#: What a mirror refuses: writes of what it copies from its upstream (submissions, the registry).
_COPIED = ("/v1/submissions", "/v1/admin/participants", "/v1/admin/keys", "/admin/participants", "/admin/keys")


@web.middleware
async def read_only_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On a mirror, submissions and registry changes go to the upstream: refuse them here, saying where."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.path.startswith(_COPIED):
        services = request.app[SERVICES]
        relayed = request.path.startswith("/v1/submissions") and services.relay is not None
        if not relayed:  # a mirror that relays takes submissions for its upstreams (its intake checks that)
            raise ExchangeError(
                Problems.FORBIDDEN,
                f"this node is a read-only mirror of {services.settings.mirror_of}; send submissions and "
                "registry changes there",
            )
    return await handler(request)


def create_app(settings: Settings, background: Sequence[Background] = ()) -> web.Application:
    """Build the app; backends open on start-up and close on clean-up."""
    app = web.Application(
        middlewares=[
            metrics.metrics_middleware,
            problems_middleware,
            qs.control_characters_middleware,
            *([read_only_middleware] if settings.mirror_of else []),
        ],
        client_max_size=settings.max_body_bytes * 64,
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app[SERVICES] = services
            stop = asyncio.Event()
            tasks = [asyncio.create_task(job(services, stop)) for job in background]
            if services.mirror is not None:
                tasks.append(asyncio.create_task(services.mirror.run(stop)))
            warm = asyncio.create_task(_warm(app[COVERAGE], services))
            yield
            stop.set()
            warm.cancel()
            for task in [*tasks, warm]:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=30)

    app[STOPPING] = asyncio.Event()
    app[BATCH_SLOTS] = asyncio.Semaphore(settings.batch_concurrency)
    app[TOKEN_LIMITER] = RateLimiter(settings.token_rate_limit, settings.token_rate_burst)
    catalogue = Catalogue.from_package()
    app[COVERAGE] = CoverageIndex(instruments(catalogue.vocabularies))

    async def stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(stopping)
    app.cleanup_ctx.append(lifecycle)
    routes = (
        submissions,
        records,
        registry,
        info,
        transparency,
        changes,
        subscriptions,
        audit,
        reviews,
        coordination,
        coverage,
        report,
        metrics,
        witness_routes,
    )
    for module in routes:
        app.add_routes(module.routes)
    portal.setup(app, catalogue)
    return app
