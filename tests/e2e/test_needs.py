"""Needs and activities of technical assistance through the whole pipeline, on both stacks.

They are records like the others: signed, validated (ownership included), versioned, logged, in the
change feed and the audit listing, and queryable by kind, jurisdiction, status and tag.
"""

from __future__ import annotations

from typing import Any

from exchange import admin
from tests.e2e.conftest import Service, register
from tests.support import example


async def _records(service: Service, **query: str) -> list[dict[str, Any]]:
    response = await service.client.get("/v1/records", params=query)
    assert response.status == 200, await response.text()
    return list((await response.json())["results"])


async def test_a_need_and_the_activity_answering_it_flow_through(service: Service) -> None:
    kenya = await register(service.services, "KEN")
    unodc = await register(service.services, "org:unodc", "intergovernmental_organization", ("KEN",))
    need_id, need = example("need", "ken-electronic-evidence-training-2024")
    verdict = await service.submit_and_wait(kenya.submission(need, kind="need", record_id=need_id))
    assert verdict["status"] == "accepted", verdict
    activity_id, activity = example("assistance", "ken-evidence-training-2025")
    verdict = await service.submit_and_wait(unodc.submission(activity, kind="assistance", record_id=activity_id))
    assert verdict["status"] == "accepted", verdict

    needs = await _records(service, kind="need", jurisdiction="KEN")
    assert [r["record_id"] for r in needs] == [need_id]
    assert needs[0]["content"]["status"] == "requested"
    assert [r["record_id"] for r in await _records(service, kind="need", status="requested")] == [need_id]
    assert [r["record_id"] for r in await _records(service, kind="assistance", tag="lesson.digital_evidence")] == [
        activity_id
    ]

    # a new version: the need is met; the history keeps both
    need["status"] = "met"
    need["dates"]["met"] = "2025-11"
    verdict = await service.submit_and_wait(kenya.submission(need, kind="need", record_id=need_id, base_version=1))
    assert verdict["status"] == "accepted", verdict
    versions = await (await service.client.get(f"/v1/records/KEN/need/{need_id}/versions")).json()
    assert [v["content"]["status"] for v in versions["versions"]] == ["requested", "met"]

    changes = await (await service.client.get("/v1/changes", params={"kind": "need,assistance"})).json()
    assert [(c["record"].split("/")[1], c["version"]) for c in changes["results"]] == [
        ("need", 1),
        ("assistance", 1),
        ("need", 2),
    ]
    auditor, _ = await admin.create_token(service.services.repository, "auditor", None)
    audited = await service.client.get(
        "/v1/audit/submissions", params={"participant": "org:unodc"}, headers={"Authorization": f"Bearer {auditor}"}
    )
    assert audited.status == 200, await audited.text()
    assert [(r["kind"], r["status"]) for r in (await audited.json())["results"]] == [("assistance", "accepted")]


async def test_ownership_of_needs_and_activities_is_enforced(service: Service) -> None:
    south_africa = await register(service.services, "ZAF")
    need_id, need = example("need", "ken-electronic-evidence-training-2024")
    verdict = await service.submit_and_wait(south_africa.submission(need, kind="need", record_id=need_id))
    assert verdict["status"] == "rejected"
    assert [e["rule"] for e in verdict["errors"]] == ["jurisdiction:not-permitted"]

    activity_id, activity = example("assistance", "ken-evidence-training-2025")
    verdict = await service.submit_and_wait(south_africa.submission(activity, kind="assistance", record_id=activity_id))
    assert verdict["status"] == "rejected"
    assert [(e["pointer"], e["rule"]) for e in verdict["errors"]] == [("/record/providers", "provider:not-submitter")]


async def test_the_coordination_view_shows_answers_unmet_needs_and_overlaps(service: Service) -> None:
    kenya = await register(service.services, "KEN")
    unodc = await register(service.services, "org:unodc", "intergovernmental_organization", ("KEN",))
    coe = await register(service.services, "org:coe", "intergovernmental_organization", ("KEN",))
    need_id, need = example("need", "ken-electronic-evidence-training-2024")
    submissions = [
        kenya.submission(need, kind="need", record_id=need_id),
        kenya.submission({**need, "status": "identified"}, kind="need", record_id="ken-second-need"),
    ]
    for name, signer in (("ken-evidence-training-2025", unodc), ("ken-evidence-mentoring-2025", coe)):
        activity_id, activity = example("assistance", name)
        submissions.append(signer.submission(activity, kind="assistance", record_id=activity_id))
    for body in submissions:
        assert (await service.submit_and_wait(body))["status"] == "accepted"

    response = await service.client.get("/v1/coordination", params={"jurisdiction": "KEN"})
    assert response.status == 200, await response.text()
    view = await response.json()
    answered = {row["record"]: sorted(a["record"] for a in row["activities"]) for row in view["needs"]}
    assert answered == {
        f"KEN/need/{need_id}": [
            "org:coe/assistance/ken-evidence-mentoring-2025",
            "org:unodc/assistance/ken-evidence-training-2025",
        ],
        "KEN/need/ken-second-need": [],
    }
    assert [row["record"] for row in view["unmet"]] == ["KEN/need/ken-second-need"]
    # Kenya has no law in the repository: every substantive article is a gap; the need names art. 19 and 28
    gaps = {(g["instrument"], g["article"]) for g in view["gaps_without_need"]}
    assert ("inst.coe.ets185", "2") in gaps and ("inst.coe.ets185", "19") not in gaps
    assert ("inst.un.uncc2024", "28") not in gaps and ("inst.coe.ets185", "1") not in gaps
    [duplicate] = view["possible_duplicates"]
    assert duplicate["overlap"] == {"from": "2025-06-01", "to": "2025-11-30"}
    assert "lesson.digital_evidence" in duplicate["areas"]

    for params, pointer in (({}, "?jurisdiction"), ({"jurisdiction": "XYZ"}, "?jurisdiction"), ({"q": "x"}, "?q")):
        refused = await service.client.get("/v1/coordination", params=params)
        assert refused.status == 422
        assert (await refused.json())["errors"][0]["pointer"] == pointer
