"""The portal: server-rendered pages for people, in the six UN languages, over the same repository.

Served by every form of the service (``exchange serve``, ``exchange gateway``). Every page works
without JavaScript; everything a page loads comes from the service itself (``/static/``), so the
Content-Security-Policy can forbid every other origin and every inline script.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from exchange.portal import account, pages
from exchange.portal.appkeys import PORTAL, Portal
from exchange.portal.labels import Labels
from exchange.portal.render import environment
from exchange.portal.security import portal_middleware
from exchange.validation.catalogue import Catalogue


def setup(app: web.Application, catalogue: Catalogue) -> None:
    """Add the portal's pages, static files and headers to the app (before it starts)."""
    app[PORTAL] = Portal(environment(), Labels(catalogue.vocabularies, catalogue.countries))
    app.middlewares.append(portal_middleware)
    app.add_routes(pages.routes)
    app.add_routes(account.routes)
    static = Path(str(resources.files("exchange.portal") / "static"))
    app.router.add_static("/static/", static, name="static", append_version=False)
