"""The registry over HTTP: public participant and key directories, and the admin API."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

from aiohttp import web

from exchange import admin, ijson, times
from exchange.errors import ErrorItem, ExchangeError, Problems
from exchange.gateway import query as qs
from exchange.gateway.appkeys import SERVICES
from exchange.gateway.auth import authenticate
from exchange.gateway.problems import json_response, read_body

routes = web.RouteTableDef()


async def json_body(request: web.Request, members: Collection[str]) -> dict[str, Any]:
    """The JSON object of a small request body; a member not among ``members`` is a 422 naming it."""
    if request.content_type != "application/json":
        raise ExchangeError(Problems.UNSUPPORTED_MEDIA_TYPE, "send application/json")
    try:
        raw = await read_body(request, 65_536, request.app[SERVICES].settings.body_timeout)
        body = ijson.loads(raw, max_depth=8)
    except ijson.IJSONError as exc:
        raise ExchangeError(Problems.BAD_REQUEST, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ExchangeError(Problems.BAD_REQUEST, "the body must be a JSON object")
    refuse_unknown(body, members, "")
    return body


def refuse_unknown(body: dict[str, Any], members: Collection[str], pointer: str) -> None:
    """A typo in a member name never passes silently: unknown members are a 422 naming the first."""
    unknown = sorted(set(body) - set(members))
    if unknown:
        message = f"unknown member(s) {', '.join(repr(u[:40]) for u in unknown)}; allowed: {', '.join(members)}"
        raise ExchangeError(
            Problems.INVALID_REQUEST, message, errors=[ErrorItem(f"{pointer}/{unknown[0][:40]}", "unknown", message)]
        )


#: Control characters other than tab and line breaks, which a PEM block holds.
_NOT_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _field(body: dict[str, Any], name: str, kind: type, required: bool = True, lines: bool = False) -> Any:
    """A member of ``kind``; text holds no control characters (but tabs and line breaks with ``lines``)."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        message = f"{name} is required and must be a {kind.__name__}"
        raise ExchangeError(Problems.INVALID_REQUEST, message, errors=[ErrorItem(f"/{name}", "type", message)])
    if isinstance(value, str) and (_NOT_IN_LINES if lines else qs.CONTROL_CHARACTERS).search(value):
        message = f"{name} must not contain control characters"
        raise ExchangeError(Problems.INVALID_REQUEST, message, errors=[ErrorItem(f"/{name}", "pattern", message)])
    return value


def _time(body: dict[str, Any], name: str) -> Any:
    value = _field(body, name, str, required=False)
    if value is None:
        return None
    try:
        return times.parse(value)
    except ValueError:
        message = f"{name} must be an RFC 3339 date-time"
        raise ExchangeError(
            Problems.INVALID_REQUEST, message, errors=[ErrorItem(f"/{name}", "format", message)]
        ) from None


@routes.get("/v1/participants")
async def participants(request: web.Request) -> web.Response:
    rows = await request.app[SERVICES].repository.list_participants()
    return json_response({"participants": [p.as_dict() for p in rows]})


@routes.get("/v1/keys")
async def key_directory(request: web.Request) -> web.Response:
    """A JWKS of every participant key ever registered, with status and validity times."""
    qs.only(request, {"participant"})
    participant = request.query.get("participant")
    keys = await request.app[SERVICES].repository.list_keys(participant)
    return json_response({"keys": [k.to_jwk() for k in keys]})


@routes.post("/v1/admin/participants")
async def add_participant(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    body = await json_body(request, ("id", "name", "type", "jurisdictions"))
    services = request.app[SERVICES]
    jurisdictions = _field(body, "jurisdictions", list, required=False) or []
    participant = await admin.add_participant(
        services.repository,
        services.validator,
        _field(body, "id", str),
        _field(body, "name", str),
        _field(body, "type", str),
        [str(j) for j in jurisdictions],
    )
    return json_response(participant.as_dict(), status=201, headers={"Location": "/v1/participants"})


@routes.post("/v1/admin/keys")
async def add_key(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    body = await json_body(request, ("kid", "public_key", "jwk", "valid_from", "valid_until"))
    if isinstance(body.get("jwk"), dict):
        material = ijson.dumps(body["jwk"])
    else:
        material = str(_field(body, "public_key", str, lines=True)).encode()
    key, index = await admin.add_key(
        request.app[SERVICES].repository,
        _field(body, "kid", str),
        material,
        _time(body, "valid_from"),
        _time(body, "valid_until"),
    )
    return json_response({**key.to_jwk(), "log_index": index}, status=201)


@routes.post("/v1/admin/keys/{participant}/{label}/revoke")
async def revoke_key(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    body = await json_body(request, ("reason",))
    kid = f"{request.match_info['participant']}/{request.match_info['label']}"
    key, index = await admin.revoke_key(request.app[SERVICES].repository, kid, _field(body, "reason", str))
    return json_response({**key.to_jwk(), "log_index": index})


@routes.get("/v1/admin/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    tokens = await request.app[SERVICES].repository.list_tokens()
    return json_response({"tokens": [t.as_dict() for t in tokens]})


@routes.post("/v1/admin/tokens")
async def create_token(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    body = await json_body(request, ("role", "participant", "label", "expires_at"))
    secret, info = await admin.create_token(
        request.app[SERVICES].repository,
        _field(body, "role", str),
        _field(body, "participant", str, required=False),
        _field(body, "label", str, required=False),
        _expiry(_field(body, "expires_at", str, required=False)),
    )
    return json_response({**info.as_dict(), "token": secret}, status=201)


def _expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return times.parse(value)
    except ValueError:
        raise ExchangeError(
            Problems.INVALID_REQUEST,
            "expires_at must be an RFC 3339 date-time",
            errors=[ErrorItem("/expires_at", "schema:format", "expires_at must be an RFC 3339 date-time")],
        ) from None


@routes.delete("/v1/admin/tokens/{token_id}")
async def revoke_token(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    done = await request.app[SERVICES].repository.revoke_token(request.match_info["token_id"], times.iso(times.now()))
    if not done:
        raise ExchangeError(Problems.NOT_FOUND, "no active token with that id")
    return web.Response(status=204)


@routes.get("/v1/admin/dead-letters")
async def dead_letters(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    rows = await request.app[SERVICES].queue.list_dead_letters()
    return json_response({"dead_letters": [d.as_dict() for d in rows]})


@routes.post("/v1/admin/dead-letters/{id}/retry")
async def redrive(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    if not await request.app[SERVICES].queue.redrive(request.match_info["id"]):
        raise ExchangeError(Problems.NOT_FOUND, "no dead letter with that id")
    return web.Response(status=204)


@routes.delete("/v1/admin/dead-letters/{id}")
async def drop(request: web.Request) -> web.Response:
    await authenticate(request, "admin")
    if not await request.app[SERVICES].queue.drop(request.match_info["id"]):
        raise ExchangeError(Problems.NOT_FOUND, "no dead letter with that id")
    return web.Response(status=204)
