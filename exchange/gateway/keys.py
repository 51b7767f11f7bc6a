"""Typed application keys (no string-keyed app state)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from exchange.services import Services

SERVICES = web.AppKey("services", Services)
#: Set when the server begins to shut down: long-lived streams end so that shutdown is prompt.
STOPPING = web.AppKey("stopping", asyncio.Event)
