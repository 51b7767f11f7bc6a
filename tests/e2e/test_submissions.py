"""Signed submissions end to end over HTTP: accepted, read back, and every way to get it wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OKPKey

from exchange import admin
from exchange.envelope import SigningKey
from exchange.identifiers import COMPACT_MEDIA_TYPE, FLATTENED_MEDIA_TYPE
from exchange.publickeys import PublicKey
from tests.e2e.conftest import Service, register
from tests.support import example_for


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"\x00" * 64) -> bytes:
    return json.dumps(
        {
            "protected": b64url(json.dumps(header).encode()),
            "payload": b64url(json.dumps(payload).encode()),
            "signature": b64url(signature),
        }
    ).encode()


def law(service: Service) -> tuple[str, dict[str, Any]]:
    return example_for("law", service.signer.participant)


async def test_a_law_is_accepted_and_reads_back(service: Service) -> None:
    record_id, record = law(service)
    body = service.signer.submission(record, record_id=record_id)
    status, ack = await service.post(body)
    assert status == 202
    assert ack["status"] == "received"
    assert ack["jws_sha256"] == hashlib.sha256(body).hexdigest()
    # the acknowledgment is signed by the repository key published at /v1/info
    info = await (await service.client.get("/v1/info")).json()
    assert info["origin"] == "https://repository.test"
    repo_key = PublicKey(
        info["keys"][0]["kid"],
        "repository",
        "Ed25519",
        {k: info["keys"][0][k] for k in ("kty", "crv", "x")},
        datetime.now(UTC),
    )
    signed = ack["acknowledgment"]
    assert repo_key.verify(
        f"{signed['protected']}.{signed['payload']}".encode(), base64.urlsafe_b64decode(signed["signature"] + "==")
    )
    acked = json.loads(base64.urlsafe_b64decode(signed["payload"] + "=="))
    assert acked == {
        "submission_id": ack["submission_id"],
        "participant": "GBR",
        "jws_sha256": ack["jws_sha256"],
        "received_at": ack["received_at"],
        "audience": "https://repository.test",
    }
    verdict = await service.verdict("GBR", ack["submission_id"])
    assert verdict["status"] == "accepted", verdict
    assert verdict["record"] == f"GBR/law/{record_id}" and verdict["version"] == 1
    assert verdict["seq"] >= 1 and verdict["log_index"] >= 1
    response = await service.client.get(f"/v1/records/GBR/law/{record_id}")
    read = await response.json()
    assert read["content"] == record and read["version"] == 1 and read["schema"] == "law/1"
    assert read["provenance"]["kid"] == service.signer.key.kid
    assert read["provenance"]["jws_sha256"] == ack["jws_sha256"]
    etag = response.headers["ETag"]
    again = await service.client.get(f"/v1/records/GBR/law/{record_id}", headers={"If-None-Match": etag})
    assert again.status == 304
    stored = await service.client.get(f"/v1/submissions/GBR/{ack['submission_id']}/jws")
    assert await stored.read() == body
    listed = await (await service.client.get("/v1/records", params={"jurisdiction": "GBR", "kind": "law"})).json()
    assert [r["record_id"] for r in listed["results"]] == [record_id]
    versions = await (await service.client.get(f"/v1/records/GBR/law/{record_id}/versions")).json()
    assert [v["version"] for v in versions["versions"]] == [1]


async def test_new_versions_and_withdrawal(service: Service) -> None:
    record_id, record = law(service)
    first = await service.submit_and_wait(service.signer.submission(record, record_id=record_id))
    changed = {**record, "citation": "amended citation"}
    second = await service.submit_and_wait(service.signer.submission(changed, record_id=record_id, base_version=1))
    assert (first["version"], second["version"]) == (1, 2)
    gone = await service.submit_and_wait(service.signer.submission(None, record_id=record_id, action="withdraw"))
    assert gone["status"] == "accepted" and gone["version"] == 3, gone
    response = await service.client.get(f"/v1/records/GBR/law/{record_id}")
    assert response.status == 410
    assert (await response.json())["type"] == "urn:exchange:problem:record-withdrawn"
    v2 = await (await service.client.get(f"/v1/records/GBR/law/{record_id}/versions/2")).json()
    assert v2["content"] == changed


async def test_same_bytes_twice_give_the_first_outcome(service: Service) -> None:
    record_id, record = law(service)
    body = service.signer.submission(record, record_id=record_id)
    first = await service.submit_and_wait(body)
    status, again = await service.post(body)
    assert status == 202
    assert again["status"] == "accepted" and again["version"] == first["version"] == 1
    versions = await (await service.client.get(f"/v1/records/GBR/law/{record_id}/versions")).json()
    assert len(versions["versions"]) == 1


async def test_same_id_other_bytes_is_a_conflict(service: Service) -> None:
    record_id, record = law(service)
    payload = service.signer.payload(record, record_id=record_id)
    assert (await service.post(service.signer.sign_payload(payload)))[0] == 202
    payload["record"] = {**record, "citation": "other"}
    status, problem = await service.post(service.signer.sign_payload(payload))
    assert status == 409
    assert problem["type"] == "urn:exchange:problem:submission-conflict"


async def test_stale_base_version_is_a_conflict(service: Service) -> None:
    record_id, record = law(service)
    await service.submit_and_wait(service.signer.submission(record, record_id=record_id))
    status, problem = await service.post(service.signer.submission(record, record_id=record_id, base_version=7))
    assert status == 409
    assert problem["errors"][0]["pointer"] == "/base_version"


async def test_schema_violations_are_all_reported_with_pointers(service: Service) -> None:
    record_id, record = law(service)
    broken = dict(record)
    broken.pop("title")
    broken["status"] = "sort-of-in-force"
    broken["provisions"] = [{**record["provisions"][0], "offence_categories": ["off.not.a.term"]}]
    verdict = await service.submit_and_wait(service.signer.submission(broken, record_id=record_id))
    assert verdict["status"] == "rejected"
    found = {(e["pointer"], e["rule"]) for e in verdict["errors"]}
    assert ("/record/title", "schema:required") in found
    assert any(e["pointer"] == "/record/status" for e in verdict["errors"])
    assert any(e["pointer"] == "/record/provisions/0/offence_categories/0" for e in verdict["errors"])
    assert len(verdict["errors"]) >= 3
    assert verdict["log_index"] is not None


async def test_unknown_schema_and_foreign_jurisdiction_are_rejected(service: Service) -> None:
    record_id, record = law(service)
    unknown = await service.submit_and_wait(service.signer.submission(record, record_id=record_id, schema="law/9"))
    assert unknown["status"] == "rejected"
    assert unknown["errors"][0]["pointer"] == "/schema"
    other_id, other = example_for("law", "ZAF")
    foreign = await service.submit_and_wait(service.signer.submission(other, record_id=other_id))
    assert foreign["status"] == "rejected"
    assert any(e["rule"] == "jurisdiction:not-permitted" for e in foreign["errors"])


async def test_an_organisation_submits_lessons_but_not_laws(service: Service) -> None:
    org = await register(service.services, "org:coe", "regional_organization", ("GBR", "ZAF"))
    lesson_id, lesson = example_for("lesson", "GBR")
    accepted = await service.submit_and_wait(org.submission(lesson, kind="lesson", record_id=lesson_id))
    assert accepted["status"] == "accepted", accepted
    assert accepted["record"] == f"org:coe/lesson/{lesson_id}"
    law_id, record = law(service)
    refused = await service.submit_and_wait(org.submission(record, record_id=law_id))
    assert refused["status"] == "rejected"
    assert refused["errors"][0]["rule"] == "kind:not-permitted"


async def test_interoperable_signers_are_accepted(service: Service) -> None:
    """joserfc, an off-the-shelf JOSE library, signs with alg Ed25519 and EdDSA; both are accepted."""
    key = OKPKey.import_key(service.signer.key.private_pem())
    record_id, record = law(service)
    for alg in ("Ed25519", "EdDSA"):
        payload = service.signer.payload(record, record_id=record_id)
        with pytest.warns() if alg == "EdDSA" else _nothing():
            flat = jws.serialize_json(
                {"protected": {"alg": alg, "kid": service.signer.key.kid, "typ": "exchange-submission+json"}},
                json.dumps(payload).encode(),
                key,
                algorithms=[alg],
            )
        verdict = await service.submit_and_wait(json.dumps(flat).encode())
        assert verdict["status"] == "accepted", (alg, verdict)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def test_compact_serialization_and_p256_keys(service: Service) -> None:
    p256 = await register(service.services, "GBR", alg="ES256")
    record_id, record = law(service)
    flat = json.loads(p256.submission(record, record_id=record_id))
    compact = f"{flat['protected']}.{flat['payload']}.{flat['signature']}".encode()
    status, ack = await service.post(compact, COMPACT_MEDIA_TYPE)
    assert status == 202, ack
    verdict = await service.verdict("GBR", ack["submission_id"])
    assert verdict["status"] == "accepted" and verdict["kid"] == p256.key.kid
    stored = await service.client.get(f"/v1/submissions/GBR/{ack['submission_id']}/jws")
    assert stored.content_type == COMPACT_MEDIA_TYPE and await stored.read() == compact


# --- rejected at the gateway -----------------------------------------------------------------


def _header(service: Service, **changes: Any) -> dict[str, Any]:
    return {"alg": "Ed25519", "kid": service.signer.key.kid, "typ": "exchange-submission+json", **changes}


async def expect(
    service: Service, body: bytes, status: int, slug: str, media_type: str = FLATTENED_MEDIA_TYPE
) -> dict[str, Any]:
    got, problem = await service.post(body, media_type)
    assert got == status, problem
    assert problem["type"] == f"urn:exchange:problem:{slug}"
    assert problem["status"] == status and problem["title"] and problem["detail"]
    return dict(problem)


@pytest.mark.settings(max_body_bytes=4096)
async def test_oversized_body(service: Service) -> None:
    await expect(service, b"{" + b" " * 5000 + b"}", 413, "body-too-large")


async def test_wrong_media_type(service: Service) -> None:
    await expect(service, service.signer.submission({}), 415, "unsupported-media-type", "application/json")


async def test_malformed_jws(service: Service) -> None:
    await expect(service, b"not json", 400, "malformed-jws")
    await expect(service, b'{"protected": "e30", "payload": "e30"}', 400, "malformed-jws")
    await expect(service, b"a.b", 400, "malformed-jws", COMPACT_MEDIA_TYPE)


async def test_alg_none_is_refused(service: Service) -> None:
    payload = service.signer.payload({})
    await expect(service, forged(_header(service, alg="none"), payload, b""), 401, "algorithm-mismatch")


async def test_hs256_keyed_with_the_public_key_is_refused(service: Service) -> None:
    payload = service.signer.payload(law(service)[1])
    header = _header(service, alg="HS256")
    protected, encoded = b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode())
    secret = base64.urlsafe_b64decode(service.signer.key.public_jwk["x"] + "==")
    mac = hmac.new(secret, f"{protected}.{encoded}".encode(), hashlib.sha256).digest()
    body = json.dumps({"protected": protected, "payload": encoded, "signature": b64url(mac)}).encode()
    await expect(service, body, 401, "algorithm-mismatch")


async def test_alg_that_does_not_match_the_key(service: Service) -> None:
    payload = service.signer.payload({})
    await expect(service, forged(_header(service, alg="ES256"), payload), 401, "algorithm-mismatch")


async def test_unknown_kid(service: Service) -> None:
    await expect(service, forged(_header(service, kid="GBR/nope"), service.signer.payload({})), 401, "unknown-key")


async def test_revoked_and_expired_keys(service: Service) -> None:
    await admin.revoke_key(service.services.repository, service.signer.key.kid, "compromised")
    await expect(service, service.signer.submission(law(service)[1]), 401, "key-not-valid")
    old = SigningKey.generate("GBR/old")
    past = datetime.now(UTC) - timedelta(days=30)
    await admin.add_key(
        service.services.repository, old.kid, json.dumps(old.public_jwk).encode(), past, past + timedelta(days=1)
    )
    expired = service.signer.__class__(old, audience=service.signer.audience)
    problem = await expect(service, expired.submission(law(service)[1]), 401, "key-not-valid")
    assert "expired" in problem["detail"]


async def test_tampered_payload_or_header(service: Service) -> None:
    body = json.loads(service.signer.submission(law(service)[1]))
    payload = json.loads(base64.urlsafe_b64decode(body["payload"] + "=="))
    payload["record_id"] = "something-else"
    tampered = {**body, "payload": b64url(json.dumps(payload).encode())}
    await expect(service, json.dumps(tampered).encode(), 401, "bad-signature")
    header = {**_header(service), "cty": "json"}
    swapped = {**body, "protected": b64url(json.dumps(header).encode())}
    await expect(service, json.dumps(swapped).encode(), 401, "bad-signature")


async def test_unprotected_and_forbidden_headers(service: Service) -> None:
    body = json.loads(service.signer.submission({}))
    await expect(service, json.dumps({**body, "header": {"kid": "x"}}).encode(), 400, "forbidden-header")
    for extra in ({"crit": ["b64"], "b64": False}, {"jku": "https://evil.test/keys"}, {"jwk": {"kty": "OKP"}}):
        await expect(service, forged(_header(service, **extra), service.signer.payload({})), 400, "forbidden-header")


async def test_duplicate_member_names_and_nan(service: Service) -> None:
    payload = service.signer.payload(law(service)[1])
    text = json.dumps(payload)
    duplicated = text.replace('"action": "upsert"', '"action": "upsert", "action": "withdraw"')
    for raw in (duplicated.encode(), text.replace('"record": {', '"x": NaN, "record": {', 1).encode()):
        jws = service.signer.key.sign_jws(raw)
        await expect(service, json.dumps(jws).encode(), 400, "invalid-json")


async def test_audience_and_created_at(service: Service) -> None:
    record = law(service)[1]
    problem = await expect(
        service, service.signer.submission(record, audience="https://other.test"), 422, "invalid-payload"
    )
    assert problem["errors"][0]["pointer"] == "/audience"
    old = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    problem = await expect(service, service.signer.submission(record, created_at=old), 422, "invalid-payload")
    assert problem["errors"][0]["pointer"] == "/created_at"
    future = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await expect(service, service.signer.submission(record, created_at=future), 422, "invalid-payload")


async def test_participant_that_does_not_own_the_key(service: Service) -> None:
    body = service.signer.submission(law(service)[1], participant="ZAF")
    await expect(service, body, 401, "key-not-owned")


@pytest.mark.settings(rate_limit=1.0, rate_burst=3)
async def test_rate_limit_per_participant(service: Service) -> None:
    record_id, record = law(service)
    for _ in range(3):
        assert (await service.post(service.signer.submission(record, record_id=record_id)))[0] == 202
    response = await service.client.post(
        "/v1/submissions", data=service.signer.submission(record), headers={"Content-Type": FLATTENED_MEDIA_TYPE}
    )
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1


async def test_batch_answers_each_line_in_order(service: Service) -> None:
    record_id, record = law(service)
    good = [service.signer.submission(record, record_id=f"{record_id}-{n}") for n in range(3)]
    lines = [
        good[0],
        b"garbage",
        b"",  # a blank line counts as a line but has no answer
        good[1],
        forged(_header(service, kid="GBR/nope"), service.signer.payload({})),
        good[2],
    ]
    body = b"\n".join(lines) + b"\n"
    response = await service.client.post(
        "/v1/submissions:batch", data=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status == 207 and response.headers["Content-Type"].startswith("application/x-ndjson")
    results = [json.loads(line) for line in (await response.text()).splitlines()]
    assert [(r["line"], r["status"]) for r in results] == [(1, 202), (2, 400), (4, 202), (5, 401), (6, 202)]
    # the same answers as one JSON document, for clients that ask for it (the same bytes: the same outcomes)
    document = await service.client.post(
        "/v1/submissions:batch",
        data=body,
        headers={"Content-Type": "application/x-ndjson", "Accept": "application/json"},
    )
    assert document.status == 207
    assert [(r["line"], r["status"]) for r in (await document.json())["results"]] == [
        (r["line"], r["status"]) for r in results
    ]
    assert results[3]["body"]["type"] == "urn:exchange:problem:unknown-key"
    for r in (results[0], results[2], results[4]):
        verdict = await service.verdict("GBR", r["body"]["submission_id"])
        assert verdict["status"] == "accepted"


async def test_status_needs_the_right_token(service: Service) -> None:
    _, ack = await service.post(service.signer.submission(law(service)[1]))
    path = f"/v1/submissions/GBR/{ack['submission_id']}"
    assert (await service.client.get(path)).status == 401
    other, _ = await admin.create_token(service.services.repository, "participant", "GBR")
    assert (await service.client.get(path, headers={"Authorization": f"Bearer {other}x"})).status == 401
    await register(service.services, "ZAF")
    zaf, _ = await admin.create_token(service.services.repository, "participant", "ZAF")
    assert (await service.client.get(path, headers={"Authorization": f"Bearer {zaf}"})).status == 403
    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    assert (await service.client.get(path, headers={"Authorization": f"Bearer {auditor}"})).status == 200
