"""The validation worker: take batches from the queue, decide them, commit, acknowledge.

Runs inside ``exchange serve`` or alone as ``exchange worker validate``; any number may run at once.
On SIGTERM (the stop event) it finishes the batch in hand (committed, then acknowledged) and returns;
in burst mode it returns as soon as the queue is empty.

When the database cannot be reached, the batch in hand goes back to the queue for a delayed retry
(one attempt each) and the worker takes nothing more until the database answers again, probing it
with a growing pause (``retry_delay``, doubling, at most :data:`MAX_PAUSE` seconds): during an outage
the submissions wait in the queue, their attempts untouched, and are decided once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from exchange.errors import Unavailable
from exchange.services import Services

log = logging.getLogger("exchange.worker")

#: Longest pause (seconds) between two probes of an unreachable database or broker.
MAX_PAUSE = 10.0


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
        try:
            states = await services.processor.process(deliveries)
        except Unavailable as exc:
            log.warning("cannot decide now; the batch will be retried", extra={"reason": str(exc)})
            await wait_until_available(services, stop)
            continue
        services.metrics.decided(states)
        processed += len(states)
    return processed


async def wait_until_available(services: Services, stop: asyncio.Event) -> None:
    """Return once the repository and the queue both answer (or ``stop`` is set)."""
    pause = services.settings.retry_delay
    while not stop.is_set():
        await _sleep_or_stop(stop, pause)
        try:
            await services.repository.ping()
            await services.queue.ping()
        except Unavailable as exc:
            log.info("still unavailable", extra={"reason": str(exc)})
            pause = min(pause * 2, MAX_PAUSE)
        else:
            log.info("backends available again; resuming")
            return


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def background(services: Services, stop: asyncio.Event) -> None:
    """The in-process form used by ``exchange serve``."""
    await run(services, stop)
