"""Service description and probes: info, schemas, vocabularies, health, readiness, OpenAPI."""

from __future__ import annotations

import asyncio

from aiohttp import web

from exchange import __version__
from exchange.errors import ExchangeError, Problems
from exchange.gateway.appkeys import COVERAGE, SERVICES
from exchange.gateway.openapi import openapi_document
from exchange.gateway.problems import json_response
from exchange.identifiers import COMPACT_MEDIA_TYPE, FLATTENED_MEDIA_TYPE

routes = web.RouteTableDef()


@routes.get("/v1/info")
async def info(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = services.settings
    key = services.signing_key
    origin, log_origin, log_keys = settings.public_origin, services.log.origin, services.log.verifier_keys
    mirror = services.mirror
    if mirror is not None:  # the upstream's names and log key: what this node serves is the upstream's
        state = mirror.state
        origin, log_origin = state.origin or origin, state.log_origin or log_origin
        log_keys = [state.log_key] if state.log_key else []
    return json_response(
        {
            "name": "exchange",
            "version": __version__,
            "origin": origin,
            "keys": [{**key.public_jwk, "kid": key.kid, "alg": key.alg, "use": "sig"}],
            "log_origin": log_origin,
            "log_verifier_key": log_keys[0] if log_keys else None,
            "log_verifier_keys": log_keys,
            "witness": services.federation.info(),
            "mirror": None
            if mirror is None
            else {
                "node": settings.public_origin,
                **mirror.state.as_dict(),
                "cosigner": {"name": mirror.cosigner.name, "verifier_key": mirror.cosigner.vkey},
            },
            "submission": {
                "media_types": [FLATTENED_MEDIA_TYPE, COMPACT_MEDIA_TYPE],
                "algorithms": ["Ed25519", "EdDSA", "ES256"],
                "typ": "exchange-submission+json",
                "created_at_max_age_seconds": settings.created_at_max_age,
                "created_at_max_skew_seconds": settings.created_at_max_skew,
            },
            "limits": {
                "max_body_bytes": settings.max_body_bytes,
                "max_json_depth": settings.max_json_depth,
                "max_batch_items": settings.max_batch_items,
                "rate_limit_per_second": settings.rate_limit,
                "rate_burst": settings.rate_burst,
            },
            "schemas": {s: f"/v1/schemas/{s}" for s in services.validator.known_schemas()},
            "vocabularies": "/v1/vocabularies",
        }
    )


@routes.get("/v1/schemas/{kind}/{version}")
async def schema(request: web.Request) -> web.Response:
    name = f"{request.match_info['kind']}/{request.match_info['version']}"
    try:
        document = request.app[SERVICES].validator.schema_document(name)
    except KeyError:
        raise ExchangeError(Problems.NOT_FOUND, f"no schema {name}") from None
    return json_response(document, media_type="application/schema+json")


@routes.get("/v1/vocabularies")
async def vocabularies(request: web.Request) -> web.Response:
    return json_response(request.app[SERVICES].validator.vocabularies)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    checks: dict[str, str] = {}
    for name, part in (("database", services.repository), ("queue", services.queue)):
        try:
            await asyncio.wait_for(part.ping(), timeout=2.0)
            checks[name] = "ok"
        except (ExchangeError, TimeoutError, OSError) as exc:
            checks[name] = f"unavailable: {exc}" if str(exc) else "unavailable"
    if services.mirror is not None:  # serving, but no longer following an upstream that failed a check
        stopped = services.mirror.state.stopped
        checks["mirror"] = "ok" if stopped is None else f"stopped following {services.mirror.state.upstream}: {stopped}"
    ready = all(v == "ok" for v in checks.values())
    return json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
        headers=None if ready else {"Retry-After": "1"},
    )


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    catalogue = request.app[COVERAGE].coverage.catalogue
    return json_response(openapi_document(services.settings.public_origin, services.validator, catalogue))
