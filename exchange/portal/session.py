"""Portal sign-in: an API token exchanged for a signed session cookie, and CSRF tokens for every form.

The cookie holds no secret: the SHA-256 of the token (as the repository stores it), an expiry and a
random CSRF value, signed with HMAC-SHA256 under a key derived from the repository's own signing key
(so every gateway of a deployment accepts the same sessions and no new secret needs storing). On each
request the token is looked up again, so revoking or expiring it ends the session at once.

Cookies are HttpOnly and SameSite=Strict, and Secure with the ``__Host-`` prefix when the service's
origin is https. Every form carries the CSRF value, compared in constant time; the sign-in form, used
before there is a session, uses a separate random cookie of its own (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exchange.gateway.appkeys import SERVICES
from exchange.gateway.auth import valid_token
from exchange.models import TokenInfo
from exchange.tokens import hash_token

SESSION_INFO = b"exchange portal session v1"
PRE_SESSION = "exchange_signin"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: their token's record and the CSRF value of their forms."""

    token: TokenInfo
    csrf: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(request: web.Request) -> bytes:
    services = request.app[SERVICES]
    material = services.signing_key.private_pem()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SESSION_INFO).derive(material)


def secure(request: web.Request) -> bool:
    return request.app[SERVICES].settings.public_origin.startswith("https://")


def cookie_name(request: web.Request) -> str:
    return "__Host-exchange_session" if secure(request) else "exchange_session"


def _sign(request: web.Request, payload: dict[str, object]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(_key(request), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def _unsign(request: web.Request, value: str) -> dict[str, object] | None:
    body, _, mac = value.partition(".")
    if not body or not mac or len(value) > 1024:
        return None
    expected = hmac.new(_key(request), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


async def current(request: web.Request) -> Session | None:
    """The session of this request, if its cookie verifies, has not expired and its token still works."""
    raw = request.cookies.get(cookie_name(request))
    payload = _unsign(request, raw) if raw else None
    if payload is None:
        return None
    token_hash, csrf, expires = payload.get("h"), payload.get("c"), payload.get("e")
    if not (isinstance(token_hash, str) and isinstance(csrf, str) and isinstance(expires, int)):
        return None
    if expires <= time.time():
        return None
    info = await valid_token(request.app[SERVICES].repository, token_hash)
    return Session(info, csrf, expires) if info is not None else None


async def sign_in(request: web.Request, response: web.StreamResponse, secret: str) -> TokenInfo | None:
    """Start a session for the API token ``secret`` (set on ``response``); None if the token is no good."""
    token_hash = hash_token(secret.strip())
    info = await valid_token(request.app[SERVICES].repository, token_hash)
    if info is None:
        return None
    lifetime = request.app[SERVICES].settings.session_seconds
    expires = int(time.time()) + lifetime
    value = _sign(request, {"h": token_hash, "c": secrets.token_urlsafe(24), "e": expires})
    response.set_cookie(
        cookie_name(request),
        value,
        max_age=lifetime,
        path="/",
        httponly=True,
        secure=secure(request),
        samesite="Strict",
    )
    response.del_cookie(PRE_SESSION, path="/")
    return info


def sign_out(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(cookie_name(request), path="/")


def pre_session_csrf(request: web.Request) -> str:
    """The CSRF value of the sign-in form: the one already in its cookie, or a new one."""
    value = request.cookies.get(PRE_SESSION, "")
    return value if 20 <= len(value) <= 64 else secrets.token_urlsafe(24)


def remember_pre_session(request: web.Request, response: web.StreamResponse, value: str) -> None:
    response.set_cookie(
        PRE_SESSION, value, max_age=3600, path="/", httponly=True, secure=secure(request), samesite="Strict"
    )


def csrf_matches(expected: str | None, sent: object) -> bool:
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(expected or "", sent)
