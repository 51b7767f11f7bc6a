"""Worker processes for ``exchange serve``: the gateway keeps one core, validation gets its own.

Each worker is ``exchange worker validate`` in a child process on the same settings. A worker that
dies is started again (after a short pause that grows while it keeps dying); on shutdown each gets
SIGTERM, finishes the batch in hand and exits. On Linux a worker also receives SIGTERM if the serving
process is killed outright, so no worker outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from exchange.services import Services

log = logging.getLogger("exchange.supervisor")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _one(slot: int, argv: list[str], stop: asyncio.Event) -> None:
    pause = 0.5
    while not stop.is_set():
        process = await asyncio.create_subprocess_exec(
            *argv, preexec_fn=_die_with_parent if sys.platform == "linux" else None
        )
        waiter = asyncio.create_task(process.wait())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(waiter, timeout=30)
                except TimeoutError:
                    process.kill()
                    await waiter
            return
        stopper.cancel()
        log.warning("worker exited; starting it again", extra={"slot": slot, "returncode": process.returncode})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
        pause = min(pause * 2, 30.0)


def worker_processes(
    count: int, config_file: Path | None
) -> Callable[[Services, asyncio.Event], Coroutine[Any, Any, None]]:
    """A background job for :func:`exchange.gateway.app.create_app` that keeps ``count`` workers running."""
    argv = [sys.executable, "-m", "exchange", "worker", "validate"]
    if config_file is not None:
        argv += ["--config", str(config_file)]

    async def supervise(services: Services, stop: asyncio.Event) -> None:
        await asyncio.gather(*(_one(n, argv, stop) for n in range(count)))

    return supervise
