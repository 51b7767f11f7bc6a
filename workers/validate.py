"""The validation worker: take batches from the queue, decide them, commit, acknowledge.

Runs inside ``exchange serve`` or alone as ``exchange worker validate``; any number may run at once.
On SIGTERM (the stop event) it finishes the batch in hand and returns; in burst mode it returns as
soon as the queue is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from exchange.errors import Unavailable
from exchange.services import Services

log = logging.getLogger("exchange.worker")


async def run(services: Services, stop: asyncio.Event, *, burst: bool = False) -> int:
    """Process submissions until ``stop`` is set (or, in burst mode, the queue is empty)."""
    settings = services.settings
    processed = 0
    while not stop.is_set():
        try:
            deliveries = await services.queue.fetch(settings.worker_batch, timeout=0.2 if burst else 1.0)
        except Unavailable as exc:
            log.warning("queue unavailable, retrying", extra={"reason": str(exc)})
            await _sleep_or_stop(stop, settings.retry_delay)
            continue
        if not deliveries:
            if burst:
                break
            continue
        states = await services.processor.process(deliveries)
        processed += len(states)
    return processed


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def background(services: Services, stop: asyncio.Event) -> None:
    """The in-process form used by ``exchange serve``."""
    await run(services, stop)
