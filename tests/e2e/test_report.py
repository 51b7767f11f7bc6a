"""The periodic report over HTTP on both stacks: figures written out by hand, every format."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import Service, register
from tests.support import example


async def get(service: Service, status: int = 200, **params: str) -> Any:
    response = await service.client.get("/v1/report", params=params)
    assert response.status == status, await response.text()
    return await response.json() if "json" in response.headers["Content-Type"] else await response.text()


async def test_the_report_counts_what_the_period_saw(service: Service) -> None:
    kenya = await register(service.services, "KEN")
    unodc = await register(service.services, "org:unodc", "intergovernmental_organization", ("KEN",))
    law_id, law = example("law", "ken-computer-misuse-and-cybercrimes-act-2018")
    need_id, need = example("need", "ken-electronic-evidence-training-2024")
    activity_id, activity = example("assistance", "ken-evidence-training-2025")
    today = datetime.now(UTC).date()
    activity = {
        **activity,
        "status": "completed",
        "dates": {"actual_start": "2025-03", "actual_end": today.isoformat()},
    }
    for signer, kind, record_id, record in (
        (kenya, "law", law_id, law),
        (kenya, "need", need_id, need),
        (kenya, "need", need_id, {**need, "status": "met", "dates": {**need["dates"], "met": today.isoformat()}}),
        (unodc, "assistance", activity_id, activity),
    ):
        verdict = await service.submit_and_wait(signer.submission(record, kind=kind, record_id=record_id))
        assert verdict["status"] == "accepted", verdict

    report = await get(service, **{"from": today.isoformat(), "to": today.isoformat()})
    assert report["records"] == [
        {"region": "Africa", "kind": "assistance", "added": 1, "updated": 0},
        {"region": "Africa", "kind": "law", "added": 1, "updated": 0},
        {"region": "Africa", "kind": "need", "added": 1, "updated": 1},
    ]
    assert report["needs"] == {"identified": 1, "met": 1}
    assert report["activities"]["delivered"] == 1
    budapest = next(c for c in report["coverage"] if c["instrument"] == "inst.coe.ets185")
    assert budapest["before"] == {"states": 0, "covered": 0, "partial": 0}
    assert budapest["after"]["states"] == 1 and budapest["after"]["covered"] > 10

    # a period before anything happened
    earlier = today - timedelta(days=30)
    empty = await get(service, **{"from": earlier.isoformat(), "to": earlier.isoformat()})
    assert empty["records"] == [] and empty["needs"] == {"identified": 0, "met": 0}

    text = await get(service, **{"from": today.isoformat(), "to": today.isoformat(), "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"section": "needs", "group": "all", "measure": "met", "value": "1"} in rows
    markdown = await get(service, **{"from": today.isoformat(), "to": today.isoformat(), "format": "md"})
    assert markdown.startswith(f"# The repository from {today} to {today}") and "| Africa | law | 1 | 0 |" in markdown
    page = await get(service, **{"from": today.isoformat(), "to": today.isoformat(), "format": "html"})
    assert "<svg" in page and "Activities delivered: 1" in page


async def test_a_report_needs_a_real_period(service: Service) -> None:
    for params, pointer in (
        ({}, "?from"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "?from"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "?to"),
        ({"from": "2026-01-01", "to": "2026-02-01", "format": "pdf"}, "?format"),
    ):
        problem = await get(service, 422, **params)
        assert problem["errors"][0]["pointer"] == pointer, params
