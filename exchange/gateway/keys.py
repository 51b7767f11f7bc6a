"""Typed application keys (no string-keyed app state)."""

from __future__ import annotations

from aiohttp import web

from exchange.services import Services

SERVICES = web.AppKey("services", Services)
