"""A real aiohttp server on 127.0.0.1 for client tests, and a handler that never stops sending."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

#: What a flooding handler sends at most before giving up (far past every limit under test).
FLOOD_BYTES = 256 * 1024 * 1024


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on a free loopback port; yield its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def flood(request: web.Request, *, prefix: bytes = b"", content_type: str = "text/plain") -> web.StreamResponse:
    """Answer 200 with ``prefix`` then one endless line, until the client hangs up."""
    response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await response.prepare(request)
    await response.write(prefix)
    block = b"x" * 65536
    sent = 0
    try:
        while sent < FLOOD_BYTES:
            await response.write(block)
            sent += len(block)
    except (ConnectionResetError, ConnectionError):
        pass
    return response
