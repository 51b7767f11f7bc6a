"""The rest of the HTTP API: registry administration, directories, description and probes."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from aiohttp import web

from exchange.envelope import SigningKey
from exchange.gateway.appkeys import SERVICES
from exchange.portal.security import is_page
from tests.e2e.conftest import Service
from tests.support import example_for


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_admin_api_registers_a_participant_key_and_token(service: Service) -> None:
    admin = bearer(service.admin_token)
    response = await service.client.post(
        "/v1/admin/participants",
        headers=admin,
        json={"id": "org:unodc", "name": "UNODC", "type": "un_entity", "jurisdictions": ["KEN", "ZAF"]},
    )
    assert response.status == 201, await response.text()
    duplicate = await service.client.post(
        "/v1/admin/participants", headers=admin, json={"id": "org:unodc", "name": "UNODC", "type": "un_entity"}
    )
    assert duplicate.status == 409
    bad = await service.client.post(
        "/v1/admin/participants", headers=admin, json={"id": "XXX", "name": "Nowhere", "type": "member_state"}
    )
    assert bad.status == 422 and (await bad.json())["errors"][0]["pointer"] == "/id"
    key = SigningKey.generate("org:unodc/2026", "ES256")
    added = await service.client.post(
        "/v1/admin/keys", headers=admin, json={"kid": key.kid, "public_key": key.public_pem().decode()}
    )
    assert added.status == 201
    body = await added.json()
    assert body["alg"] == "ES256" and body["participant"] == "org:unodc" and body["log_index"] >= 0
    as_jwk = SigningKey.generate("org:unodc/2027")
    assert (
        await service.client.post("/v1/admin/keys", headers=admin, json={"kid": as_jwk.kid, "jwk": as_jwk.public_jwk})
    ).status == 201
    private = await service.client.post(
        "/v1/admin/keys", headers=admin, json={"kid": "org:unodc/bad", "public_key": key.private_pem().decode()}
    )
    assert private.status == 422
    directory = await (await service.client.get("/v1/keys", params={"participant": "org:unodc"})).json()
    assert [k["kid"] for k in directory["keys"]] == ["org:unodc/2026", "org:unodc/2027"]
    assert all({"kty", "alg", "participant", "status", "valid_from"} <= k.keys() for k in directory["keys"])
    revoked = await service.client.post(
        "/v1/admin/keys/org:unodc/2026/revoke", headers=admin, json={"reason": "rotated"}
    )
    assert revoked.status == 200 and (await revoked.json())["status"] == "revoked"
    token = await service.client.post(
        "/v1/admin/tokens", headers=admin, json={"role": "subscriber", "participant": "org:unodc"}
    )
    created = await token.json()
    assert token.status == 201 and created["token"].startswith("xt_")
    listing = await (await service.client.get("/v1/admin/tokens", headers=admin)).json()
    assert created["id"] in [t["id"] for t in listing["tokens"]]
    assert created["token"] not in json.dumps(listing)
    assert (await service.client.delete(f"/v1/admin/tokens/{created['id']}", headers=admin)).status == 204
    participants = await (await service.client.get("/v1/participants")).json()
    assert {"GBR", "org:unodc"} <= {p["id"] for p in participants["participants"]}


async def test_admin_api_needs_an_admin_token(service: Service) -> None:
    payload = {"id": "org:x", "name": "X", "type": "other_partner"}
    assert (await service.client.post("/v1/admin/participants", json=payload)).status == 401
    forbidden = await service.client.post("/v1/admin/participants", json=payload, headers=service.auth)
    assert forbidden.status == 403
    assert (await forbidden.json())["type"] == "urn:exchange:problem:forbidden"


@pytest.mark.settings(max_body_bytes=123_456)
async def test_info_schemas_vocabularies(service: Service) -> None:
    info = await (await service.client.get("/v1/info")).json()
    assert info["origin"] == "https://repository.test"
    assert set(info["schemas"]) >= {"law/1", "case/1", "lesson/1"}
    assert info["limits"]["max_body_bytes"] == 123_456
    schema = await service.client.get(info["schemas"]["law/1"])
    assert schema.status == 200 and schema.content_type == "application/schema+json"
    assert (await schema.json())["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    vocab = await (await service.client.get("/v1/vocabularies")).json()
    terms = vocab["vocabularies"]["offence_categories"]["terms"]
    assert any(term["id"] == "off.cia.illegal_access" for term in terms)
    assert (await service.client.get("/v1/schemas/law/9")).status == 404


async def test_probes(service: Service) -> None:
    assert (await (await service.client.get("/healthz")).json()) == {"status": "ok"}
    ready = await service.client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": "ok", "queue": "ok"}


async def test_unknown_paths_and_methods_are_problems(service: Service) -> None:
    missing = await service.client.get("/v1/nothing-here")
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    wrong = await service.client.delete("/v1/submissions")
    assert wrong.status == 405 and (await wrong.json())["type"] == "urn:exchange:problem:method-not-allowed"
    bad = await service.client.get("/v1/records", params={"limit": "0"})
    assert bad.status == 422
    unknown = await service.client.get("/v1/records", params={"colour": "blue"})
    assert unknown.status == 422 and "colour" in (await unknown.json())["detail"]
    assert (await service.client.get("/v1/records", params={"cursor": "%%%"})).status == 422


async def test_records_paginate_with_cursors(service: Service) -> None:
    record_id, record = example_for("law", "GBR")
    for n in range(5):
        status, _ = await service.post(service.signer.submission(record, record_id=f"{record_id}-{n}"))
        assert status == 202
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await service.client.get("/v1/records", params=params)).json()
        seen += [r["record_id"] for r in page["results"]]
        cursor = page["next"]
        if cursor is None and len(seen) >= 5:
            break
        if cursor is None:
            seen = []
            await service.client.get("/healthz")
    assert seen == [f"{record_id}-{n}" for n in range(5)]


def _openapi_path(route: str) -> str:
    return re.sub(r"\{([a-z_]+)(:[^}]+)?\}", r"{\1}", route)


async def test_openapi_describes_every_route(service: Service) -> None:
    document = await (await service.client.get("/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    app: web.Application = service.client.app  # type: ignore[assignment]
    assert app[SERVICES] is service.services
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = _openapi_path(info.get("path") or info.get("formatter") or "")
        if is_page(path) or path.startswith("/static/"):
            continue  # the portal's pages are for people, not part of the API
        assert path in document["paths"], f"{route.method} {path} is not in the OpenAPI document"
        assert route.method.lower() in document["paths"][path], f"{route.method} {path} undocumented"


@pytest.mark.settings(token_rate_limit=0.01, token_rate_burst=3)
async def test_each_token_has_its_own_rate_limit(service: Service) -> None:
    admin = {"Authorization": f"Bearer {service.admin_token}"}
    statuses = [(await service.client.get("/v1/admin/tokens", headers=admin)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await service.client.get("/v1/admin/tokens", headers=admin)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["type"].endswith("rate-limited")
    # Another token is not held back by the first one's use.
    assert (await service.client.get("/v1/submissions/GBR/" + "0" * 36, headers=service.auth)).status == 404


async def test_tokens_expire(service: Service) -> None:
    from datetime import timedelta

    from exchange import admin, times

    admin_auth = {"Authorization": f"Bearer {service.admin_token}"}
    past = await service.client.post(
        "/v1/admin/tokens", headers=admin_auth, json={"role": "auditor", "expires_at": "2020-01-01T00:00:00Z"}
    )
    assert past.status == 422 and (await past.json())["errors"][0]["pointer"] == "/expires_at"
    created = await service.client.post(
        "/v1/admin/tokens", headers=admin_auth, json={"role": "auditor", "expires_at": "2999-01-01T00:00:00Z"}
    )
    body = await created.json()
    assert created.status == 201 and body["expires_at"] == "2999-01-01T00:00:00.000000Z"
    works = await service.client.get("/v1/audit/submissions", headers={"Authorization": f"Bearer {body['token']}"})
    assert works.status == 200
    # A token whose expiry has passed is refused like a revoked one.
    secret, info = await admin.create_token(
        service.services.repository, "auditor", None, "soon", times.now() + timedelta(milliseconds=50)
    )
    assert info.expires_at is not None
    while times.iso(times.now()) <= info.expires_at:
        await asyncio.sleep(0.01)
    refused = await service.client.get("/v1/audit/submissions", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401
    assert "expired" in (await refused.json())["detail"]


async def test_records_are_queried_by_instrument_and_article(service: Service) -> None:
    record_id, record = example_for("law", "GBR")
    assert (await service.submit_and_wait(service.signer.submission(record, record_id=record_id)))[
        "status"
    ] == "accepted"

    async def ids(**params: str) -> list[str]:
        response = await service.client.get("/v1/records", params=params)
        assert response.status == 200, await response.text()
        return [r["record_id"] for r in (await response.json())["results"]]

    assert await ids(instrument="inst.coe.ets185") == [record_id]
    assert await ids(instrument="inst.coe.ets185", article="2") == [record_id]
    assert await ids(instrument="inst.un.uncc2024", article="7") == [record_id]  # by its subject tags
    assert await ids(instrument="inst.coe.ets185", article="9") == []
    for params, pointer in (
        ({"article": "2"}, "?article"),
        ({"instrument": "inst.nowhere"}, "?instrument"),
        ({"instrument": "inst.coe.ets185", "article": "99"}, "?article"),
    ):
        refused = await service.client.get("/v1/records", params=params)
        assert refused.status == 422
        assert (await refused.json())["errors"][0]["pointer"] == pointer
