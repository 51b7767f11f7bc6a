"""The coverage API over HTTP on both stacks: the matrix, one State with its provisions, as-of, CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.e2e.conftest import Service, register
from tests.support import example


async def get(service: Service, path: str, status: int = 200, **params: str) -> Any:
    response = await service.client.get(path, params=params)
    assert response.status == status, await response.text()
    return await response.json() if "json" in response.headers["Content-Type"] else await response.text()


def law(status: str, article: str) -> dict[str, Any]:
    return {
        "jurisdiction": "GBR",
        "title": {"original": {"lang": "en", "text": "An Act"}},
        "document_type": "act",
        "status": status,
        "provisions": [{"num": "1", "instrument_refs": [{"instrument": "inst.coe.ets185", "article": article}]}],
    }


async def test_the_matrix_follows_the_feed_and_answers_as_of_any_seq(service: Service) -> None:
    south_africa = await register(service.services, "ZAF")
    zaf_id, zaf = example("law", "zaf-cybercrimes-act-2020")
    assert (await service.submit_and_wait(south_africa.submission(zaf, record_id=zaf_id)))["status"] == "accepted"
    first = await service.submit_and_wait(service.signer.submission(law("adopted_not_in_force", "2"), record_id="act"))
    assert first["status"] == "accepted"

    matrix = await get(service, "/v1/coverage", instrument="inst.coe.ets185")
    rows = {row["jurisdiction"]: row["cells"] for row in matrix["states"]}
    assert set(rows) == {"GBR", "ZAF"}
    assert rows["GBR"]["2"] == "partial" and rows["GBR"]["3"] == "unknown"
    # the Act is partly in force: its provisions count as partial
    assert rows["ZAF"]["2"] == "partial" and rows["ZAF"]["9"] == "unknown"

    second = await service.submit_and_wait(service.signer.submission(law("in_force", "3"), record_id="act"))
    now = {
        row["jurisdiction"]: row["cells"]
        for row in (await get(service, "/v1/coverage", instrument="inst.coe.ets185"))["states"]
    }
    assert now["GBR"]["2"] == "unknown" and now["GBR"]["3"] == "covered"
    earlier = await get(service, "/v1/coverage", instrument="inst.coe.ets185", as_of=str(first["seq"]))
    assert earlier["as_of"] == first["seq"]
    assert {row["jurisdiction"]: row["cells"] for row in earlier["states"]}["GBR"]["2"] == "partial"
    assert second["seq"] > first["seq"]

    # a withdrawal takes the State's law out
    verdict = await service.submit_and_wait(service.signer.submission(None, action="withdraw", record_id="act"))
    assert verdict["status"] == "accepted"
    assert [
        r["jurisdiction"] for r in (await get(service, "/v1/coverage", instrument="inst.coe.ets185"))["states"]
    ] == ["ZAF"]
    europe = await get(service, "/v1/coverage", instrument="inst.coe.ets185", region="Africa")
    assert [r["jurisdiction"] for r in europe["states"]] == ["ZAF"]


async def test_one_state_with_the_provisions_behind_each_cell_and_csv_like_json(service: Service) -> None:
    south_africa = await register(service.services, "ZAF")
    zaf_id, zaf = example("law", "zaf-cybercrimes-act-2020")
    assert (await service.submit_and_wait(south_africa.submission(zaf, record_id=zaf_id)))["status"] == "accepted"
    state = await get(service, "/v1/coverage/ZAF", instrument="inst.un.uncc2024")
    [uncc] = state["instruments"]
    article7 = next(a for a in uncc["articles"] if a["number"] == "7")
    assert article7["status"] == "partial"
    assert article7["provisions"] == [
        {
            "record": f"ZAF/law/{zaf_id}",
            "version": 1,
            "provision": "2",
            "heading": "Unlawful access",
            "legal_status": "partially_in_force",
            "via": "reference",
        }
    ]
    both = await get(service, "/v1/coverage/ZAF")
    assert {i["instrument"] for i in both["instruments"]} >= {"inst.coe.ets185", "inst.un.uncc2024"}

    matrix = await get(service, "/v1/coverage", instrument="inst.coe.ets185")
    text = await get(service, "/v1/coverage", instrument="inst.coe.ets185", format="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(r["jurisdiction"], r["article"], r["status"]) for r in rows} == {
        (row["jurisdiction"], number, status) for row in matrix["states"] for number, status in row["cells"].items()
    }
    response = await service.client.get("/v1/coverage/ZAF?instrument=inst.coe.ets185", headers={"Accept": "text/csv"})
    assert response.headers["Content-Type"].startswith("text/csv")
    state_rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert {"record", "provision", "legal_status"} <= set(state_rows[0])


async def test_bad_coverage_requests_name_the_parameter(service: Service) -> None:
    for params, pointer in (
        ({}, "?instrument"),
        ({"instrument": "inst.nowhere"}, "?instrument"),
        ({"instrument": "inst.coe.ets185", "region": "Atlantis"}, "?region"),
        ({"instrument": "inst.coe.ets185", "as_of": "x"}, "?as_of"),
        ({"instrument": "inst.coe.ets185", "as_of": "999999"}, "?as_of"),
        ({"instrument": "inst.coe.ets185", "format": "xml"}, "?format"),
        ({"instrument": "inst.coe.ets185", "colour": "red"}, "?colour"),
    ):
        problem = await get(service, "/v1/coverage", 422, **params)
        assert problem["errors"][0]["pointer"] == pointer, params
    assert (await service.client.get("/v1/coverage/XYZ")).status == 404


async def test_the_dated_treaty_status_stands_beside_each_state(service: Service) -> None:
    france = await register(service.services, "FRA")
    record = {
        "jurisdiction": "FRA",
        "title": {"original": {"lang": "fr", "text": "Code pénal"}},
        "document_type": "code",
        "status": "amended",
        "provisions": [{"num": "323-1", "instrument_refs": [{"instrument": "inst.coe.ets185", "article": "2"}]}],
    }
    assert (await service.submit_and_wait(france.submission(record, record_id="cp")))["status"] == "accepted"
    [row] = (await get(service, "/v1/coverage", instrument="inst.coe.ets185"))["states"]
    assert row["treaty_status"] == {
        "signature": "2001-11-23",
        "ratification": "2006-01-10",
        "entry_into_force": "2006-05-01",
        "as_of": "2015-12-03",
        "source": "Council of Europe Treaty Office, chart of signatures and ratifications of Treaty 185",
    }
    state = await get(service, "/v1/coverage/FRA", instrument="inst.un.uncc2024")
    assert state["instruments"][0]["treaty_status"]["signature"] == "2025-10-25"
    assert (await get(service, "/v1/coverage/KEN", instrument="inst.coe.ets185"))["instruments"][0][
        "treaty_status"
    ] is None
