"""``GET /metrics``: Prometheus text, parsed with the reference parser, counting what really happened."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Service
from tests.support import example_for


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_requests_decisions_and_state(service: Service) -> None:
    response = await service.client.get("/metrics")
    assert response.status == 401
    _, record = example_for("law", "GBR")
    accepted = await service.submit_and_wait(service.signer.submission(record))
    rejected = await service.submit_and_wait(service.signer.submission({"title": "not a law"}))
    assert (accepted["status"], rejected["status"]) == ("accepted", "rejected")
    for _ in range(3):
        assert (await service.client.get("/v1/records/GBR/law/penal-code")).status == 200
    assert (await service.client.get("/v1/records/GBR/law/nothing-here")).status == 404

    response = await service.client.get("/metrics", headers={"Authorization": f"Bearer {service.admin_token}"})
    assert response.status == 200
    assert response.content_type == "text/plain"
    samples = _samples(await response.text())
    route = "/v1/records/{participant}/{kind}/{record_id}"
    assert samples[("exchange_http_requests_total", (("method", "GET"), ("route", route), ("status", "200")))] == 3
    assert samples[("exchange_http_requests_total", (("method", "GET"), ("route", route), ("status", "404")))] == 1
    assert (
        samples[("exchange_http_requests_total", (("method", "POST"), ("route", "/v1/submissions"), ("status", "202")))]
        == 2
    )
    assert samples[("exchange_http_request_duration_seconds_count", (("method", "GET"), ("route", route)))] == 4
    assert samples[("exchange_decisions_total", (("outcome", "accepted"),))] == 1
    assert samples[("exchange_decisions_total", (("outcome", "rejected"),))] == 1
    assert samples[("exchange_feed_last_seq", ())] == 1
    assert samples[("exchange_log_size", ())] >= 3  # the key event and two decisions
    assert samples[("exchange_queue_depth", ())] == 0
    assert samples[("exchange_backends_up", ())] == 1
