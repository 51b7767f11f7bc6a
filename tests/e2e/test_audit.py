"""The audit API over HTTP, on each backend stack: listings, provenance, NDJSON and PROV-JSON exports."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from exchange import admin
from exchange.auditor.receipt import verify_receipt
from tests.e2e.conftest import Service, register
from tests.support import Signer, example


@dataclass
class History:
    """What :func:`populate` did, for the tests to check against."""

    verdicts: list[dict[str, Any]] = field(default_factory=list)
    signers: dict[str, Signer] = field(default_factory=dict)
    revoked_kid: str = ""
    auditor: str = ""

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [v for v in self.verdicts if v["status"] == "accepted"]

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return [v for v in self.verdicts if v["status"] == "rejected"]

    def of(self, record: str, version: int) -> dict[str, Any]:
        return next(v for v in self.accepted if v["record"] == record and v["version"] == version)


def amended(record: dict[str, Any], note: str = " (amended)") -> dict[str, Any]:
    changed = copy.deepcopy(record)
    changed["title"]["original"]["text"] += note
    return changed


def another(record: dict[str, Any], note: str) -> dict[str, Any]:
    """Another document made from ``record``: amended, and without its document identifiers."""
    changed = amended(record, note)
    changed.pop("identifiers", None)
    return changed


async def checkpoint(service: Service) -> str:
    response = await service.client.get("/v1/log/checkpoint")
    assert response.status == 200
    return await response.text()


async def populate(service: Service) -> History:
    """A real history: three States, new versions, a withdrawal, a rejection, a key rotated and revoked,
    and several signed checkpoints along the way."""
    services = service.services
    history = History()
    gbr = service.signer
    zaf = await register(services, "ZAF")
    deu = await register(services, "DEU")
    history.signers = {"GBR": gbr, "ZAF": zaf, "DEU": deu}
    history.auditor, _ = await admin.create_token(services.repository, "auditor", None)
    gbr_id, gbr_law = example("law", "gbr-computer-misuse-act-1990")
    zaf_id, zaf_law = example("law", "zaf-cybercrimes-act-2020")
    deu_id, deu_law = example("law", "deu-strafgesetzbuch-202a-202c")
    lesson_id, lesson = example("lesson", "gbr-police-response-cyber-dependent-crime-2023")

    async def submit(signer: Signer, record: Any, **overrides: Any) -> None:
        history.verdicts.append(await service.submit_and_wait(signer.submission(record, **overrides)))

    await submit(gbr, gbr_law, record_id=gbr_id)
    await checkpoint(service)
    await submit(zaf, zaf_law, record_id=zaf_id)
    await submit(zaf, amended(zaf_law), record_id=zaf_id)
    await submit(gbr, lesson, kind="lesson", record_id=lesson_id)
    await checkpoint(service)
    await submit(gbr, amended(gbr_law), record_id=gbr_id)
    await submit(gbr, None, kind="lesson", record_id=lesson_id, action="withdraw")
    await submit(gbr, {**another(gbr_law, ""), "status": "unknown-status"}, record_id="gbr-broken")
    second = await register(services, "GBR")
    await submit(second, another(gbr_law, " (second key)"), record_id="gbr-second-key")
    await admin.revoke_key(services.repository, second.key.kid, "rotated")
    history.revoked_kid = second.key.kid
    await checkpoint(service)
    await submit(deu, deu_law, record_id=deu_id)
    await checkpoint(service)
    assert [v["status"] for v in history.verdicts].count("accepted") == 8, history.verdicts
    return history


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get_json(service: Service, path: str, token: str, **params: Any) -> tuple[int, Any]:
    response = await service.client.get(path, params=params, headers=bearer(token))
    return response.status, await response.json(content_type=None)


async def test_audit_submissions_filters_and_pages(service: Service) -> None:
    history = await populate(service)
    status, body = await get_json(service, "/v1/audit/submissions", history.auditor)
    assert status == 200, body
    results = body["results"]
    assert body["next"] is None
    assert [r["submission_id"] for r in results] == [v["submission_id"] for v in history.verdicts]
    indexes = [r["log_index"] for r in results]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    for result in results:
        assert result["kid"] and len(result["payload_sha256"]) == 64 and result["kind"] in ("law", "lesson")
        assert result["status"] in ("accepted", "rejected")

    _, zaf = await get_json(service, "/v1/audit/submissions", history.auditor, participant="ZAF")
    assert [r["record"] for r in zaf["results"]] == ["ZAF/law/zaf-cybercrimes-act-2020"] * 2
    _, rejected = await get_json(service, "/v1/audit/submissions", history.auditor, outcome="rejected")
    assert [r["submission_id"] for r in rejected["results"]] == [v["submission_id"] for v in history.rejected]
    assert rejected["results"][0]["errors"]
    _, accepted = await get_json(service, "/v1/audit/submissions", history.auditor, outcome="accepted")
    assert len(accepted["results"]) == 8
    _, by_key = await get_json(service, "/v1/audit/submissions", history.auditor, kid=history.revoked_kid)
    assert [r["record"] for r in by_key["results"]] == ["GBR/law/gbr-second-key"]

    paged: list[dict[str, Any]] = []
    after: int | None = -1
    pages = 0
    while after is not None:
        _, page = await get_json(service, "/v1/audit/submissions", history.auditor, limit=3, after=after)
        assert len(page["results"]) <= 3
        paged += page["results"]
        after = page["next"]
        pages += 1
    assert paged == results and pages == 3 and len(results) == 9

    middle = results[4]["received_at"]
    _, since = await get_json(service, "/v1/audit/submissions", history.auditor, **{"from": middle})
    assert since["results"] == results[4:]
    _, until = await get_json(service, "/v1/audit/submissions", history.auditor, to=middle)
    assert until["results"] == results[:4]

    for bad in ({"outcome": "received"}, {"limit": "0"}, {"after": "x"}, {"from": "yesterday"}, {"colour": "red"}):
        status, problem = await get_json(service, "/v1/audit/submissions", history.auditor, **bad)
        assert status == 422, (bad, problem)
        assert problem["type"] == "urn:exchange:problem:invalid-request"


async def test_provenance_of_a_record_version(service: Service) -> None:
    history = await populate(service)
    verdict = history.of("ZAF/law/zaf-cybercrimes-act-2020", 2)
    status, body = await get_json(
        service, "/v1/audit/records/ZAF/law/zaf-cybercrimes-act-2020/versions/2", history.auditor
    )
    assert status == 200, body
    assert set(body) == {"version", "submission", "key", "log_entry", "receipt", "log"}
    version = body["version"]
    assert version["version"] == 2 and version["provenance"]["submission_id"] == verdict["submission_id"]
    assert version["content"]["title"]["original"]["text"].endswith("(amended)")

    submission = body["submission"]
    assert submission["status"] == "accepted" and submission["log_index"] == verdict["log_index"]
    jws = base64.b64decode(submission["jws"])
    assert hashlib.sha256(jws).hexdigest() == submission["jws_sha256"] == version["provenance"]["jws_sha256"]
    signed = json.loads(base64.urlsafe_b64decode(json.loads(jws)["payload"] + "=="))
    assert signed["record"] == version["content"]
    assert (
        hashlib.sha256(base64.urlsafe_b64decode(json.loads(jws)["payload"] + "==")).hexdigest()
        == (submission["payload_sha256"])
    )

    key = body["key"]
    assert key["kid"] == "ZAF/k1" and key["status"] == "active" and key["valid_at_receipt"] is True
    assert key["x"] == history.signers["ZAF"].key.public_jwk["x"]

    entry = base64.b64decode(body["log_entry"]["entry"])
    assert rfc8785.dumps(json.loads(entry)) == entry
    assert body["log_entry"]["decoded"] == json.loads(entry)
    assert body["log_entry"]["decoded"]["record"] == "ZAF/law/zaf-cybercrimes-act-2020"
    assert body["log_entry"]["decoded"]["jws_sha256"] == submission["jws_sha256"]
    receipt = body["receipt"]
    assert base64.b64decode(receipt["entry"]) == entry
    checked = verify_receipt(receipt, body["log"]["verifier_keys"], jws)
    assert checked.index == verdict["log_index"]

    # A version signed with a key revoked since: the key is shown revoked, but valid when it was used.
    _, rotated = await get_json(service, "/v1/audit/records/GBR/law/gbr-second-key/versions/1", history.auditor)
    assert rotated["key"]["status"] == "revoked" and rotated["key"]["revoked_at"]
    assert rotated["key"]["status_at_receipt"] == "valid" and rotated["key"]["valid_at_receipt"] is True

    missing = await service.client.get(
        "/v1/audit/records/ZAF/law/zaf-cybercrimes-act-2020/versions/3", headers=bearer(history.auditor)
    )
    assert missing.status == 404
    wrong_kind = await service.client.get(
        "/v1/audit/records/ZAF/statute/zaf-cybercrimes-act-2020/versions/1", headers=bearer(history.auditor)
    )
    assert wrong_kind.status == 404


async def test_ndjson_export_holds_every_submission_then_every_version(service: Service) -> None:
    history = await populate(service)
    response = await service.client.get(
        "/v1/audit/export", params={"format": "ndjson"}, headers=bearer(history.auditor)
    )
    assert response.status == 200
    assert response.content_type == "application/x-ndjson"
    assert response.headers.get("Transfer-Encoding") == "chunked"
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    types = [line["type"] for line in lines]
    assert types == ["submission"] * 9 + ["version"] * 8 + ["end"]
    submissions, versions, end = lines[:9], lines[9:17], lines[17]
    assert end == {"type": "end", "format": "exchange-audit-export/1", "submissions": 9, "versions": 8}

    assert [s["submission_id"] for s in submissions] == [v["submission_id"] for v in history.verdicts]
    for line in submissions:
        body = base64.b64decode(line["jws"])
        assert hashlib.sha256(body).hexdigest() == line["jws_sha256"]
        assert line["serialization"] == "flattened" and line["kid"] and line["payload_sha256"]
        stored = await service.client.get(f"/v1/submissions/{line['participant']}/{line['submission_id']}/jws")
        if line["status"] == "accepted":
            assert await stored.read() == body

    assert [v["seq"] for v in versions] == sorted(v["seq"] for v in versions)
    for line in versions:
        assert set(line) >= {
            "participant",
            "kind",
            "record_id",
            "version",
            "action",
            "schema",
            "submission_id",
            "kid",
            "log_index",
            "seq",
            "content",
        }
        verdict = history.of(f"{line['participant']}/{line['kind']}/{line['record_id']}", line["version"])
        assert line["submission_id"] == verdict["submission_id"] and line["log_index"] == verdict["log_index"]
        read = await (
            await service.client.get(
                f"/v1/records/{line['participant']}/{line['kind']}/{line['record_id']}/versions/{line['version']}"
            )
        ).json()
        assert line["content"] == read["content"]
    withdrawal = next(v for v in versions if v["action"] == "withdraw")
    assert withdrawal["content"] is None and withdrawal["version"] == 2 and withdrawal["kind"] == "lesson"

    bad = await service.client.get("/v1/audit/export", params={"format": "csv"}, headers=bearer(history.auditor))
    assert bad.status == 422


async def test_prov_export_is_a_w3c_prov_json_document(service: Service) -> None:
    from prov.model import ProvDerivation, ProvDocument, ProvEntity, ProvGeneration

    history = await populate(service)
    response = await service.client.get("/v1/audit/export", params={"format": "prov"}, headers=bearer(history.auditor))
    assert response.status == 200 and response.content_type == "application/json"
    text = await response.text()
    document = json.loads(text)
    assert set(document) == {
        "prefix",
        "entity",
        "activity",
        "agent",
        "wasGeneratedBy",
        "used",
        "wasAssociatedWith",
        "actedOnBehalfOf",
        "wasDerivedFrom",
        "wasAttributedTo",
    }
    assert document["prefix"]["rec"] == "https://repository.test/v1/records/"
    zaf_v2 = "rec:ZAF/law/zaf-cybercrimes-act-2020/versions/2"
    decision = f"sub:ZAF/{history.of('ZAF/law/zaf-cybercrimes-act-2020', 2)['submission_id']}"
    assert document["entity"][zaf_v2]["exchange:version"] == 2
    assert document["activity"][decision]["prov:type"] == {"$": "exchange:Acceptance", "type": "xsd:QName"}
    rejection = f"sub:GBR/{history.rejected[0]['submission_id']}"
    assert document["activity"][rejection]["prov:type"]["$"] == "exchange:Rejection"
    assert {"part:GBR", "part:ZAF", "part:DEU", f"key:{history.revoked_kid}", "exchange:repository"} <= set(
        document["agent"]
    )
    assert document["agent"][f"key:{history.revoked_kid}"]["exchange:revoked_at"]["type"] == "xsd:dateTime"
    revisions = [r for r in document["wasDerivedFrom"].values() if r.get("prov:type", {}).get("$") == "prov:Revision"]
    assert {(r["prov:generatedEntity"], r["prov:usedEntity"]) for r in revisions} == {
        (zaf_v2, "rec:ZAF/law/zaf-cybercrimes-act-2020/versions/1"),
        ("rec:GBR/law/gbr-computer-misuse-act-1990/versions/2", "rec:GBR/law/gbr-computer-misuse-act-1990/versions/1"),
        (
            "rec:GBR/lesson/gbr-police-response-cyber-dependent-crime-2023/versions/2",
            "rec:GBR/lesson/gbr-police-response-cyber-dependent-crime-2023/versions/1",
        ),
    }
    delegations = list(document["actedOnBehalfOf"].values())
    assert {"prov:delegate": "key:ZAF/k1", "prov:responsible": "part:ZAF", "prov:activity": decision} in delegations

    parsed = ProvDocument.deserialize(content=text, format="json")
    records = parsed.get_records()
    assert sum(isinstance(r, ProvEntity) for r in records) == 9 + 8
    generated = {str(r.formal_attributes[0][1]) for r in records if isinstance(r, ProvGeneration)}
    assert zaf_v2 in generated and len(generated) == 8
    assert sum(isinstance(r, ProvDerivation) for r in records) == 8 + 3
    assert ProvDocument.deserialize(content=parsed.serialize(format="json"), format="json") == parsed


async def test_audit_api_needs_an_auditor_or_admin_token(service: Service) -> None:
    history = await populate(service)
    paths = [
        "/v1/audit/submissions",
        "/v1/audit/records/GBR/law/gbr-computer-misuse-act-1990/versions/1",
        "/v1/audit/export?format=ndjson",
        "/v1/audit/export?format=prov",
    ]
    subscriber, _ = await admin.create_token(service.services.repository, "subscriber", "GBR")
    for path in paths:
        anonymous = await service.client.get(path)
        assert anonymous.status == 401, path
        assert (await anonymous.json())["type"] == "urn:exchange:problem:unauthenticated"
        assert "Bearer" in anonymous.headers["WWW-Authenticate"]
        assert (await service.client.get(path, headers=bearer("xt_not-a-token"))).status == 401
        for token in (service.token, subscriber):
            forbidden = await service.client.get(path, headers=bearer(token))
            assert forbidden.status == 403, path
            assert (await forbidden.json())["type"] == "urn:exchange:problem:forbidden"
        for token in (history.auditor, service.admin_token):
            allowed = await service.client.get(path, headers=bearer(token))
            assert allowed.status == 200, path
            await allowed.read()


async def test_exports_page_through_the_repository(service: Service) -> None:
    from exchange import provenance

    history = await populate(service)
    headers = bearer(history.auditor)
    repository = service.services.repository
    served = await (await service.client.get("/v1/audit/export", params={"format": "ndjson"}, headers=headers)).read()
    paged = b"".join([chunk async for chunk in provenance.export_ndjson(repository, page=2)])
    assert paged == served
    assert len([chunk async for chunk in provenance.export_ndjson(repository, page=2)]) == 5 + 4 + 1
    prov = await (await service.client.get("/v1/audit/export", params={"format": "prov"}, headers=headers)).read()
    origin = service.services.settings.public_origin
    paged_prov = b"".join([chunk async for chunk in provenance.export_prov(repository, origin, page=2)])
    assert json.loads(paged_prov) == json.loads(prov)
