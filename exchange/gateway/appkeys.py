"""Typed application keys (no string-keyed app state)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from exchange.coverage import CoverageIndex
from exchange.ratelimit import RateLimiter
from exchange.services import Services

SERVICES = web.AppKey("services", Services)
#: Set when the server begins to shut down: long-lived streams end so that shutdown is prompt.
STOPPING = web.AppKey("stopping", asyncio.Event)
#: Batch bodies being read at once (``batch_concurrency``): further batches wait before reading theirs.
BATCH_SLOTS = web.AppKey("batch_slots", asyncio.Semaphore)
#: Requests per API token (``token_rate_limit``, ``token_rate_burst``).
TOKEN_LIMITER = web.AppKey("token_limiter", RateLimiter)
#: The coverage of every State's laws, kept current with the change feed (one per process).
COVERAGE = web.AppKey("coverage", CoverageIndex)
