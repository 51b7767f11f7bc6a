"""Hostile and edge-case input: every one answers a 4xx problem naming what was wrong, never a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.e2e.conftest import Service
from tests.support import example, example_for, now_z

pytestmark = pytest.mark.parametrize("stack", ["embedded"], indirect=True)

HUGE = "9" * 5000


async def _status(service: Service, path: str, **headers: str) -> tuple[int, Any]:
    response = await service.client.get(path, headers={**service.auth, **headers})
    text = await response.text()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


async def test_integer_beyond_python_limit_in_payload_is_a_4xx(service: Service) -> None:
    _, record = example("law")
    payload = service.signer.payload(record)
    text = json.dumps(payload).replace('"record_id": "penal-code"', f'"record_id": "penal-code", "extra": {HUGE}')
    body = json.dumps(service.signer.key.sign_jws(text.encode())).encode()
    status, problem = await service.post(body)
    assert status == 400 or 400 < status < 500, problem
    assert problem["status"] == status


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_created_at_at_the_edge_of_the_range(service: Service, created_at: str) -> None:
    _, record = example("law")
    status, problem = await service.post(service.signer.submission(record, created_at=created_at))
    assert status == 422, problem
    assert problem["errors"][0]["pointer"] == "/created_at"


async def test_created_at_with_a_trailing_newline_is_refused_by_the_gateway(service: Service) -> None:
    _, record = example("law")
    status, problem = await service.post(service.signer.submission(record, created_at=now_z() + "\n"))
    assert status == 422, problem
    assert problem["errors"][0]["pointer"] == "/created_at"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_audit_filters_at_the_edge_of_the_range(service: Service, value: str) -> None:
    status, problem = await _status(
        service,
        f"/v1/audit/submissions?from={value.replace('+', '%2B')}",
        Authorization=f"Bearer {service.admin_token}",
    )
    assert status == 422, problem
    assert problem["errors"][0]["pointer"] == "?from"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/records/GBR/law/penal-code/versions/" + HUGE,
        "/v1/records/GBR/law/penal-code/versions/100000000000000000000000",
        "/v1/audit/records/GBR/law/penal-code/versions/" + "9" * 30,
    ],
)
async def test_huge_version_numbers_in_paths(service: Service, path: str) -> None:
    status, problem = await _status(service, path, Authorization=f"Bearer {service.admin_token}")
    assert status in (404, 422), problem


@pytest.mark.parametrize("last_event_id", ["²", "9" * 5000, "100000000000000000000000", "-1", "1.0"])
async def test_bad_last_event_id(service: Service, last_event_id: str) -> None:
    status, problem = await _status(service, "/v1/changes?feed=eventsource", **{"Last-Event-ID": last_event_id})
    assert status == 422, problem
    assert problem["errors"][0]["pointer"] == "?Last-Event-ID"


@pytest.mark.parametrize("since", ["1.5", "1e3", "²", HUGE])
async def test_since_must_be_an_integer(service: Service, since: str) -> None:
    status, problem = await _status(service, f"/v1/changes?since={since}")
    assert status == 422, problem
    assert problem["errors"][0]["pointer"] == "?since"


async def test_nul_in_a_search_is_a_422_without_driver_text(service: Service) -> None:
    status, problem = await _status(service, "/v1/records?q=%00")
    assert status == 422, problem
    assert problem["errors"][0]["pointer"] == "?q"


@pytest.mark.parametrize(("name", "value"), [("kind", "banana"), ("region", "atlantis"), ("region", "999")])
async def test_closed_parameters_name_their_allowed_values(service: Service, name: str, value: str) -> None:
    status, problem = await _status(service, f"/v1/records?{name}={value}")
    assert status == 422, problem
    assert problem["errors"][0]["pointer"] == f"?{name}"


async def test_region_by_name_or_m49_code(service: Service) -> None:
    _, record = example_for("law", "GBR")
    verdict = await service.submit_and_wait(service.signer.submission(record))
    assert verdict["status"] == "accepted", verdict
    by_code = await _status(service, "/v1/records?region=150")
    by_name = await _status(service, "/v1/records?region=Europe")
    by_lower = await _status(service, "/v1/records?region=northern%20europe")
    elsewhere = await _status(service, "/v1/records?region=Africa")
    assert by_code[0] == by_name[0] == by_lower[0] == elsewhere[0] == 200, (by_code, by_name)
    assert [r["record_id"] for r in by_code[1]["results"]] == ["penal-code"]
    assert by_name[1]["results"] == by_code[1]["results"] == by_lower[1]["results"]
    assert elsewhere[1]["results"] == []


async def test_calendar_invalid_date_in_a_record_is_rejected(service: Service) -> None:
    _, record = example_for("law", "GBR")
    record = {**record, "dates": {**record.get("dates", {}), "adopted": "2026-02-30"}}
    verdict = await service.submit_and_wait(service.signer.submission(record))
    assert verdict["status"] == "rejected", verdict
    assert any(e["pointer"] == "/record/dates/adopted" for e in verdict["errors"]), verdict


async def test_huge_integer_in_admin_and_subscription_json(service: Service) -> None:
    admin = {"Authorization": f"Bearer {service.admin_token}", "Content-Type": "application/json"}
    body = '{"id": "FRA", "name": "x", "type": "member_state", "n": ' + HUGE + "}"
    response = await service.client.post("/v1/admin/participants", data=body, headers=admin)
    assert 400 <= response.status < 500, await response.text()
    body = '{"url": "https://example.org/hook", "since": ' + HUGE + "}"
    response = await service.client.post("/v1/subscriptions", data=body, headers=admin)
    assert 400 <= response.status < 500, await response.text()


async def test_a_batch_answers_every_item_whatever_one_holds(service: Service) -> None:
    _, record = example_for("law", "GBR")
    good = service.signer.submission(record, record_id="good-one")
    payload = service.signer.payload(record, record_id="huge-one")
    text = json.dumps(payload).replace('"action": "upsert"', f'"action": "upsert", "n": {HUGE}')
    bad = json.dumps(service.signer.key.sign_jws(text.encode())).encode()
    later = service.signer.submission(record, record_id="good-two")
    response = await service.client.post(
        "/v1/submissions:batch",
        data=b"\n".join([good, bad, b"", later]) + b"\n",
        headers={"Content-Type": "application/x-ndjson"},
    )
    text = await response.text()
    assert response.status == 207, text
    results = [json.loads(line) for line in text.splitlines()]
    assert [(item["line"], item["status"]) for item in results] == [(1, 202), (2, 400), (4, 202)], results
    assert results[1]["body"]["errors"][0]["rule"] == "i-json"


@pytest.mark.settings(max_batch_bytes=4096)
async def test_a_batch_body_beyond_its_limit_is_refused_while_it_streams(service: Service) -> None:
    async def endless() -> Any:
        for _ in range(64):
            yield b"x" * 1000 + b"\n"

    response = await service.client.post(
        "/v1/submissions:batch", data=endless(), headers={"Content-Type": "application/x-ndjson"}
    )
    problem = await response.json()
    assert response.status == 413, problem
    assert "4096" in problem["detail"]


@pytest.mark.settings(max_body_bytes=2048)
async def test_a_batch_line_beyond_the_single_limit_is_refused(service: Service) -> None:
    response = await service.client.post(
        "/v1/submissions:batch", data=b"y" * 5000, headers={"Content-Type": "application/x-ndjson"}
    )
    problem = await response.json()
    assert response.status == 413, problem
    assert "line 1" in problem["detail"]


@pytest.mark.settings(body_timeout=0.5)
async def test_a_body_that_never_completes_is_refused_with_408(service: Service) -> None:
    host, port = service.client.host, service.client.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/jose+json\r\n"
            b'Content-Length: 1000\r\n\r\n{"protected": '
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head


async def test_a_client_that_disconnects_mid_body_is_no_error(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    for _ in range(5):
        _, writer = await asyncio.open_connection(service.client.host, service.client.port)
        writer.write(
            b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/jose+json\r\n"
            b'Content-Length: 1000\r\n\r\n{"protected": '
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    response = await service.client.get("/healthz")
    assert response.status == 200
    assert not [(r.name, r.getMessage()) for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_regions_are_named_in_any_of_the_six_languages(service: Service) -> None:
    for name in ("Europe", "europa", "Европа", "欧洲", "أوروبا", "150"):
        response = await service.client.get("/v1/records", params={"region": name})
        assert response.status == 200, (name, await response.text())


@pytest.mark.parametrize(
    ("path", "pointer"),
    [
        ("/v1/records?kind=", "?kind"),
        ("/v1/records?to=2026-02-30", "?to"),
        ("/v1/changes?kind=banana", "?kind"),
        ("/v1/keys?participant=GBR&typo=1", "?typo"),
        ("/v1/log/entries?start=0&ende=3", "?ende"),
    ],
)
async def test_empty_unknown_and_impossible_query_values_are_named(service: Service, path: str, pointer: str) -> None:
    status, problem = await _status(service, path)
    assert (status, problem["errors"][0]["pointer"]) == (422, pointer), problem


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        ("/v1/admin/tokens", {"role": "auditor", "rol": "admin"}, "/rol"),
        ("/v1/admin/participants", {"id": "org:x", "name": "X\n", "type": "un_entity"}, "/name"),
        ("/v1/subscriptions", {"url": "https://example.org/h", "filter": {"kind": ["law"]}}, "/filter/kind"),
        ("/v1/subscriptions", {"url": "http://[L"}, "/url"),
        ("/v1/subscriptions", {"url": "https://exämple.org/h"}, "/url"),
    ],
)
async def test_bodies_name_unknown_members_and_malformed_values(
    service: Service, path: str, body: dict[str, Any], pointer: str
) -> None:
    response = await service.client.post(path, json=body, headers={"Authorization": f"Bearer {service.admin_token}"})
    problem = await response.json()
    assert (response.status, problem["errors"][0]["pointer"]) == (422, pointer), problem
