"""The checkpointer: signs a checkpoint every ``checkpoint_interval`` seconds while the log grows.

Runs inside ``exchange serve`` and alone as ``exchange worker checkpoint``. Several may run at once:
signing is deterministic and each size is kept once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from exchange.errors import Unavailable
from exchange.services import Services

log = logging.getLogger("exchange.checkpoint")


async def run(services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await services.log.checkpoint()
        except Unavailable as exc:
            log.warning("cannot sign a checkpoint now", extra={"reason": str(exc)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=services.settings.checkpoint_interval)
