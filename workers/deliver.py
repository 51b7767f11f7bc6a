"""The deliver worker: sends webhooks for every active subscription it holds a lease on.

Runs inside ``exchange serve`` and alone as ``exchange worker deliver``; several may run (each
subscription is leased to one of them at a time). SIGTERM lets the deliveries in flight finish, then
frees the leases so that another deliverer carries on at once; the cursors are durable.
"""

from __future__ import annotations

import asyncio

from exchange.services import Services
from exchange.webhooks import Deliverer


async def run(services: Services, stop: asyncio.Event) -> None:
    await Deliverer(services.settings, services.repository, services.notifier, services.metrics, services.recent).run(
        stop
    )
