"""Signed-in pages over HTTP: sign-in, sessions, CSRF, a focal point's rejections, the admin registry."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import ClientResponse

from exchange import admin
from exchange.client import review_payload
from exchange.envelope import SigningKey
from exchange.gateway.appkeys import SERVICES
from exchange.portal import session
from exchange.tokens import hash_token
from tests.e2e.conftest import Service, register
from tests.portal.conftest import Loaded
from tests.support import example

CSRF = re.compile(r'name="csrf" value="([^"]+)"')

#: Served over plain HTTP here, so the test client sends the cookies back (https makes them Secure).
PLAIN = pytest.mark.settings(origin="http://repository.test")


async def form_csrf(loaded: Loaded, path: str) -> str:
    html = await (await loaded.service.client.get(path)).text()
    found = CSRF.search(html)
    assert found, html[:400]
    return found.group(1)


async def post(loaded: Loaded, path: str, data: dict[str, Any]) -> ClientResponse:
    return await loaded.service.client.post(path, data=data, allow_redirects=False)


async def sign_in(loaded: Loaded, token: str) -> ClientResponse:
    csrf = await form_csrf(loaded, "/signin")
    return await post(loaded, "/signin", {"csrf": csrf, "token": token, "next": "/me"})


@PLAIN
async def test_a_focal_point_sees_its_rejected_submission_with_its_errors(loaded: Loaded) -> None:
    service = loaded.service
    signer = loaded.signers["GBR"]
    bad = {"jurisdiction": "GBR", "title": {"original": {"lang": "en", "text": "Bad"}}, "document_type": "poem"}
    verdict = await service.submit_and_wait(signer.submission(bad, record_id="bad-law"))
    assert verdict["status"] == "rejected"

    signed = await sign_in(loaded, service.token)
    assert signed.status == 303 and signed.headers["Location"] == "/me"
    cookie = signed.cookies["exchange_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    me = await service.client.get("/me")
    html = await me.text()
    assert me.status == 200
    assert verdict["submission_id"] in html
    assert "/record/document_type" in html and "schema:enum" in html
    assert "GBR/k1" in html  # its key, and its state


@PLAIN
async def test_wrong_tokens_expired_sessions_and_forged_forms_are_refused(loaded: Loaded) -> None:
    service = loaded.service
    refused = await sign_in(loaded, "xt_not-a-token")
    assert refused.status == 401 and "unknown, revoked or expired" in await refused.text()
    assert (await service.client.get("/me", allow_redirects=False)).headers["Location"] == "/signin?next=/me"

    # a sign-in form without the CSRF value of its own cookie
    forged = await post(loaded, "/signin", {"csrf": "x" * 32, "token": service.token})
    assert forged.status == 403

    assert (await sign_in(loaded, service.admin_token)).status == 303
    page = await service.client.get("/admin")
    assert page.status == 200
    # a change without the session's CSRF value
    before = len(await service.services.repository.list_participants())
    sneaky = await post(loaded, "/admin/participants", {"id": "MEX", "name": "Mexico", "type": "member_state"})
    assert sneaky.status == 403
    assert len(await service.services.repository.list_participants()) == before

    # a tampered cookie is no session
    jar = service.client.session.cookie_jar
    value = jar.filter_cookies(service.client.make_url("/"))["exchange_session"].value
    here = service.client.make_url("/")
    jar.update_cookies({"exchange_session": value[:-2] + ("AA" if not value.endswith("AA") else "BB")}, here)
    assert (await service.client.get("/me", allow_redirects=False)).status == 303

    # an expired session is no session, though its signature is good
    token_hash = hash_token(service.admin_token)
    holder = SimpleNamespace(app={SERVICES: service.services})
    expired = session._sign(holder, {"h": token_hash, "c": "c" * 32, "e": int(time.time()) - 1})  # type: ignore[arg-type]
    jar.update_cookies({"exchange_session": expired}, here)
    assert (await service.client.get("/me", allow_redirects=False)).status == 303
    fresh = session._sign(holder, {"h": token_hash, "c": "c" * 32, "e": int(time.time()) + 60})  # type: ignore[arg-type]
    jar.update_cookies({"exchange_session": fresh}, here)
    assert (await service.client.get("/me", allow_redirects=False)).status == 200

    # revoking the token ends the session at once
    jar.clear()
    secret, info = await admin.create_token(service.services.repository, "participant", "GBR")
    assert (await sign_in(loaded, secret)).status == 303
    assert (await service.client.get("/me", allow_redirects=False)).status == 200
    await service.services.repository.revoke_token(info.token_id, "2026-01-01T00:00:00Z")
    assert (await service.client.get("/me", allow_redirects=False)).status == 303
    # a participant token is no admin
    jar.clear()
    assert (await sign_in(loaded, service.token)).status == 303
    assert (await service.client.get("/admin")).status == 403


@PLAIN
async def test_an_administrator_registers_a_participant_a_key_and_a_token(loaded: Loaded) -> None:
    service = loaded.service
    assert (await sign_in(loaded, service.admin_token)).status == 303
    csrf = await form_csrf(loaded, "/admin")
    added = await post(
        loaded, "/admin/participants", {"csrf": csrf, "id": "MEX", "name": "Mexico", "type": "member_state"}
    )
    assert added.status == 303 and added.headers["Location"] == "/admin?done=participant"
    assert (await service.services.repository.get_participant("MEX")) is not None

    wrong = await post(
        loaded, "/admin/participants", {"csrf": csrf, "id": "XXX", "name": "Nowhere", "type": "member_state"}
    )
    assert wrong.status == 422 and "ISO 3166-1 alpha-3" in await wrong.text()

    key = SigningKey.generate("MEX/2026-01")
    registered = await post(
        loaded, "/admin/keys", {"csrf": csrf, "kid": "MEX/2026-01", "public_key": key.public_pem().decode()}
    )
    assert registered.status == 303
    assert (await service.services.repository.get_key("MEX/2026-01")) is not None

    created = await post(loaded, "/admin/tokens", {"csrf": csrf, "role": "participant", "participant": "MEX"})
    html = await created.text()
    assert created.status == 200 and created.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="new-token">(xt_[^<]+)<', html)
    assert secret is not None
    # the new token works for the API, and is shown nowhere again
    listed = await service.client.get("/v1/records", headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert listed.status == 200
    assert secret.group(1) not in await (await service.client.get("/admin")).text()

    revoked = await post(loaded, "/admin/keys/revoke", {"csrf": csrf, "kid": "MEX/2026-01", "reason": "rotated"})
    assert revoked.status == 303
    assert (await service.services.repository.get_key("MEX/2026-01")).revoked_at is not None  # type: ignore[union-attr]

    out = await post(loaded, "/signout", {"csrf": csrf})
    assert out.status == 303
    assert (await service.client.get("/admin", allow_redirects=False)).status == 303


async def test_over_https_the_cookies_are_secure_and_host_bound(loaded: Loaded) -> None:
    page = await loaded.service.client.get("/signin")
    assert "Secure" in page.headers["Set-Cookie"] and "SameSite=Strict" in page.headers["Set-Cookie"]
    csrf = CSRF.search(await page.text())
    assert csrf is not None
    response = await loaded.service.client.post(
        "/signin",
        data={"csrf": csrf.group(1), "token": loaded.service.token},
        headers={"Cookie": f"exchange_signin={csrf.group(1)}"},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = next(v for v in response.headers.getall("Set-Cookie") if v.startswith("__Host-exchange_session="))
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"):
        assert attribute in cookie
    assert "Domain" not in cookie


@pytest.mark.settings(origin="http://repository.test", review=("GBR/law",))
async def test_editors_see_the_review_queue_and_the_submitter_the_comments(service: Service) -> None:
    editor = await register(service.services, "org:secretariat", "secretariat")
    token, _ = await admin.create_token(service.services.repository, "editor", "org:secretariat")
    record_id, law = example("law", "gbr-computer-misuse-act-1990")
    held = await service.submit_and_wait(service.signer.submission(law, record_id=record_id))
    loaded = Loaded(service, {})
    assert (await sign_in(loaded, token)).status == 303
    queue = await (await service.client.get("/review")).text()
    assert f"GBR/law/{record_id}" in queue and f"exchange review approve GBR/{held['submission_id']}" in queue
    decision = review_payload(
        participant="org:secretariat",
        audience=editor.audience,
        action="return",
        reviewed=held,
        comments="cite the gazette",
    )
    assert (await service.submit_and_wait(editor.sign_payload(decision)))["status"] == "accepted"
    assert "No submission is waiting for review." in await (await service.client.get("/review")).text()

    service.client.session.cookie_jar.clear()
    assert (await sign_in(loaded, service.token)).status == 303
    me = await (await service.client.get("/me")).text()
    assert "returned by an editor" in me and "cite the gazette" in me
    refused = await service.client.get("/review")
    assert refused.status == 403
