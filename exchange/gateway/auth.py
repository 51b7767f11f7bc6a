"""Bearer-token authentication and role checks for the non-submission API."""

from __future__ import annotations

from aiohttp import web

from exchange import times
from exchange.errors import ExchangeError, Problems
from exchange.gateway.appkeys import SERVICES, TOKEN_LIMITER
from exchange.models import ROLES, TokenInfo
from exchange.ratelimit import RateLimiter
from exchange.repository.port import Tokens
from exchange.tokens import hash_token
from exchange.visibility import PUBLIC, Viewer


def _tokens(request: web.Request) -> Tokens:
    """The only part of the repository authentication reads."""
    return request.app[SERVICES].repository


async def valid_token(tokens: Tokens, token_hash: str) -> TokenInfo | None:
    """The token stored under ``token_hash`` if it is neither revoked nor expired."""
    info = await tokens.find_token(token_hash)
    if (
        info is None
        or info.revoked_at is not None
        or (info.expires_at is not None and info.expires_at <= times.iso(times.now()))
    ):
        return None
    return info


async def authenticate(request: web.Request, *roles: str) -> TokenInfo:
    """The caller's token, which must hold one of ``roles`` (admin always may)."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ExchangeError(
            Problems.UNAUTHENTICATED,
            "send an API token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="exchange"'},
        )
    info = await valid_token(_tokens(request), hash_token(secret.strip()))
    if info is None:
        raise ExchangeError(
            Problems.UNAUTHENTICATED,
            "the API token is unknown, revoked or expired",
            headers={"WWW-Authenticate": 'Bearer realm="exchange", error="invalid_token"'},
        )
    wait = request.app[TOKEN_LIMITER].take(info.token_id)
    if wait:
        raise ExchangeError(
            Problems.RATE_LIMITED,
            "this API token sent more requests than its rate limit allows",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    if info.role != "admin" and info.role not in roles:
        article = "an" if info.role[0] in "aeiou" else "a"
        raise ExchangeError(
            Problems.FORBIDDEN, f"{article} {info.role} token cannot do this; it needs {' or '.join(roles)}"
        )
    return info


async def viewer(request: web.Request) -> Viewer:
    """Who is reading: the public without an ``Authorization`` header; with one, the holder of a valid
    token of any role (an unknown, revoked or expired token is a 401, never a silent public read)."""
    if "Authorization" not in request.headers:
        return PUBLIC
    return Viewer.of_token(await authenticate(request, *ROLES))


#: Headers of an answer that holds what not everyone may see: no shared cache keeps it.
PRIVATE = {"Cache-Control": "private", "Vary": "Authorization"}
