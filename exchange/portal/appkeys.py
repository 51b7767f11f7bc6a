"""The portal's entry in the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from aiohttp import web

from exchange.portal.labels import Labels


@dataclass(frozen=True, slots=True)
class Portal:
    env: jinja2.Environment
    labels: Labels


PORTAL = web.AppKey("portal", Portal)
