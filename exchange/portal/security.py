"""Headers and errors of the portal's pages: a strict Content-Security-Policy, no framing, no sniffing,
and HTML error pages where the API answers RFC 9457 problems."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from exchange.errors import ExchangeError, Unavailable
from exchange.gateway.query import CONTROL_CHARACTERS
from exchange.portal.render import render

log = logging.getLogger("exchange.portal")

#: Paths of the machine API and operations, which keep their JSON problems and own headers.
API_PREFIXES = ("/v1/", "/witness/", "/metrics", "/healthz", "/readyz")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def is_page(path: str) -> bool:
    return not path.startswith(API_PREFIXES) and path != "/v1"


@web.middleware
async def portal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pages get the security headers and HTML errors; the API passes through untouched."""
    if not is_page(request.path):
        return await handler(request)
    try:
        if any(CONTROL_CHARACTERS.search(value) for value in request.match_info.values()):
            raise web.HTTPNotFound()  # no page has such an address, and a database refuses NUL
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = render(request, "error.html", status=exc.status, status_code=exc.status, detail="")
    except Unavailable:
        response = render(request, "error.html", status=503, status_code=503, detail="")
        response.headers["Retry-After"] = "5"
    except ExchangeError as exc:
        status = exc.problem.status
        response = render(request, "error.html", status=status, status_code=status, detail=exc.detail)
    except Exception:
        log.exception("unhandled error on a page", extra={"path": request.path})
        response = render(request, "error.html", status=500, status_code=500, detail="")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
    return response
