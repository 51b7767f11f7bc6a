"""Webhook subscriptions (subscriber token): create with a verification of intent, manage, replay."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from aiohttp import web

from exchange import times
from exchange.errors import ErrorItem, ExchangeError, Problems
from exchange.gateway.appkeys import SERVICES
from exchange.gateway.auth import authenticate
from exchange.gateway.problems import json_response
from exchange.gateway.query import CONTROL_CHARACTERS
from exchange.gateway.registry import json_body, refuse_unknown
from exchange.models import KINDS, Subscription, TokenInfo
from exchange.repository.port import Subscriptions
from exchange.webhooks import check_url, new_secret, session_for, verify_intent

routes = web.RouteTableDef()


def _invalid(pointer: str, message: str) -> ExchangeError:
    return ExchangeError(Problems.INVALID_REQUEST, message, errors=[ErrorItem(pointer, "invalid", message)])


def _strings(value: Any, pointer: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(pointer, f"{pointer} must be a list of strings")
    if any(CONTROL_CHARACTERS.search(v) for v in value):
        raise _invalid(pointer, f"{pointer} must not hold control characters")
    if allowed is not None and set(value) - set(allowed):
        raise _invalid(pointer, f"{pointer} takes {', '.join(allowed)}")
    return tuple(value)


async def _owned(request: web.Request) -> tuple[Subscription, TokenInfo]:
    token = await authenticate(request, "subscriber")
    sub = await request.app[SERVICES].repository.get_subscription(request.match_info["id"])
    if sub is None or (token.role != "admin" and sub.owner != token.participant):
        raise ExchangeError(Problems.NOT_FOUND, "no such subscription")
    return sub, token


async def _update(request: web.Request, subscription_id: str, fields: dict[str, Any]) -> web.Response:
    repository: Subscriptions = request.app[SERVICES].repository
    await repository.update_subscription(subscription_id, fields)
    sub = await repository.get_subscription(subscription_id)
    if sub is None:
        raise ExchangeError(Problems.NOT_FOUND, "no such subscription")
    return json_response(sub.public())


@routes.post("/v1/subscriptions")
async def create(request: web.Request) -> web.Response:
    token = await authenticate(request, "subscriber")
    services = request.app[SERVICES]
    body = await json_body(request, ("url", "filter", "since"))
    url = body.get("url")
    if not isinstance(url, str) or CONTROL_CHARACTERS.search(url):
        raise _invalid("/url", "url is required, a URL without control characters")
    check_url(url, services.settings.webhooks_allow_private)
    filters = {} if body.get("filter") is None else body["filter"]
    if not isinstance(filters, dict):
        raise _invalid("/filter", "filter must be an object")
    refuse_unknown(filters, ("kinds", "participants", "jurisdictions"), "/filter")
    since = body.get("since", await services.repository.last_seq())
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise _invalid("/since", "since must be a non-negative integer (default: the current end of the feed)")
    secret, sub_id = new_secret(), "sub_" + uuid.uuid4().hex[:16]
    sub = Subscription(
        id=sub_id,
        owner=token.participant or "admin",
        url=url,
        kinds=_strings(filters.get("kinds"), "/filter/kinds", KINDS),
        participants=_strings(filters.get("participants"), "/filter/participants"),
        jurisdictions=_strings(filters.get("jurisdictions"), "/filter/jurisdictions"),
        secret=services.secrets.seal(secret, sub_id),
        status="pending",
        cursor=since,
        created_at=times.iso(times.now()),
    )
    async with session_for(services.settings) as session:
        problem = await verify_intent(session, url)
    if problem is None:
        sub.status = "active"
    else:
        sub.last_error = problem  # the deliver worker retries the verification with back-off
    await services.repository.add_subscription(sub)
    return json_response(
        {**sub.public(), "secret": secret},
        status=201,
        headers={"Location": f"/v1/subscriptions/{sub.id}"},
    )


@routes.get("/v1/subscriptions")
async def list_subscriptions(request: web.Request) -> web.Response:
    token = await authenticate(request, "subscriber")
    owner = None if token.role == "admin" else token.participant
    rows = await request.app[SERVICES].repository.list_subscriptions(owner)
    return json_response({"subscriptions": [s.public() for s in rows]})


@routes.get("/v1/subscriptions/{id}")
async def show(request: web.Request) -> web.Response:
    sub, _ = await _owned(request)
    return json_response(sub.public())


@routes.delete("/v1/subscriptions/{id}")
async def delete(request: web.Request) -> web.Response:
    sub, _ = await _owned(request)
    await request.app[SERVICES].repository.delete_subscription(sub.id)
    return web.Response(status=204)


@routes.post("/v1/subscriptions/{id}/pause")
async def pause(request: web.Request) -> web.Response:
    sub, _ = await _owned(request)
    if sub.status == "gone":
        raise ExchangeError(Problems.ALREADY_EXISTS, "the receiver answered 410 Gone; create a new subscription")
    return await _update(request, sub.id, {"status": "paused"})


@routes.post("/v1/subscriptions/{id}/resume")
async def resume(request: web.Request) -> web.Response:
    sub, _ = await _owned(request)
    if sub.status == "gone":
        raise ExchangeError(Problems.ALREADY_EXISTS, "the receiver answered 410 Gone; create a new subscription")
    fields: dict[str, Any] = {"attempts": 0, "failing_since": None, "next_attempt_at": None}
    if sub.status == "paused":
        fields["status"] = "active"
    return await _update(request, sub.id, fields)


@routes.post("/v1/subscriptions/{id}/rotate")
async def rotate(request: web.Request) -> web.Response:
    """A new secret, shown once; the old one keeps signing beside it during the overlap."""
    sub, _ = await _owned(request)
    services = request.app[SERVICES]
    overlap = services.settings.webhook_secret_overlap
    secret, until = new_secret(), times.iso(times.now() + timedelta(seconds=overlap))
    fields = {
        "secret": services.secrets.seal(secret, sub.id),
        "previous_secret": sub.secret,
        "previous_secret_until": until,
    }
    if not await request.app[SERVICES].repository.update_subscription(sub.id, fields, {"secret": sub.secret}):
        raise ExchangeError(Problems.ALREADY_EXISTS, "the secret was rotated meanwhile; try again")
    return json_response({**sub.public(), "secret": secret, "previous_secret_until": until})


@routes.post("/v1/subscriptions/{id}/replay")
async def replay(request: web.Request) -> web.Response:
    """Deliver again from ``since`` (exclusive): the cursor moves back (or forward) to it."""
    sub, _ = await _owned(request)
    body = await json_body(request, ("since",))
    since = body.get("since")
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise _invalid("/since", "since must be a non-negative integer")
    return await _update(request, sub.id, {"cursor": since, "attempts": 0, "next_attempt_at": None})


@routes.get("/v1/subscriptions/{id}/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    sub, _ = await _owned(request)
    rows = await request.app[SERVICES].repository.list_deliveries(sub.id, 200)
    return json_response({"deliveries": [d.as_dict() for d in rows]})
