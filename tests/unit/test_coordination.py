"""The coordination view on hand-made needs and activities, each expected outcome written out."""

from __future__ import annotations

from typing import Any

from exchange.coordination import Gap, coordinate, period
from exchange.models import RecordKey, RecordVersion


def version(participant: str, kind: str, record_id: str, content: dict[str, Any], number: int = 1) -> RecordVersion:
    return RecordVersion(
        key=RecordKey(participant, kind, record_id),
        version=number,
        action="upsert",
        schema=f"{kind}/1",
        content=content,
        submission_id="00000000-0000-4000-8000-000000000000",
        kid=f"{participant}/k1",
        jws_sha256="0" * 64,
        received_at="2026-01-01T00:00:00Z",
        accepted_at="2026-01-01T00:00:00Z",
        log_index=0,
        seq=1,
    )


def title(text: str) -> dict[str, Any]:
    return {"original": {"lang": "en", "text": text}}


def need(record_id: str, status: str, **more: Any) -> RecordVersion:
    content = {"jurisdiction": "KEN", "title": title(record_id), "status": status, "priority": "high", **more}
    return version("KEN", "need", record_id, content)


def activity(record_id: str, provider: str, status: str, answers: list[str], **more: Any) -> RecordVersion:
    content = {
        "jurisdiction": "KEN",
        "title": title(record_id),
        "providers": [{"participant": provider, "name": provider, "role": "implementing"}],
        "types": ["training"],
        "status": status,
        "answers": [{"record": f"KEN/need/{a}", "version": 1} for a in answers],
        **more,
    }
    return version(provider, "assistance", record_id, content)


def keys(rows: list[dict[str, Any]]) -> list[str]:
    return [row["record"] for row in rows]


def test_a_need_is_unmet_until_a_live_activity_answers_it() -> None:
    needs = [
        need("evidence", "requested"),
        need("contact-point", "identified"),
        need("drafting", "requested"),
        need("old", "met"),
    ]
    activities = [
        activity("workshops", "org:unodc", "planned", ["evidence"]),
        activity("cancelled-mission", "org:coe", "cancelled", ["drafting"]),
    ]
    view = coordinate("KEN", needs, activities)
    assert keys(view["unmet"]) == ["KEN/need/contact-point", "KEN/need/drafting"]
    by_need = {row["record"]: keys(row["activities"]) for row in view["needs"]}
    assert by_need == {
        "KEN/need/evidence": ["org:unodc/assistance/workshops"],
        "KEN/need/contact-point": [],
        "KEN/need/drafting": ["org:coe/assistance/cancelled-mission"],
        "KEN/need/old": [],
    }


def test_gaps_named_by_no_need_by_article_or_by_term() -> None:
    needs = [
        need("preservation", "requested", instrument_refs=[{"instrument": "inst.coe.ets185", "article": "16(1)"}]),
        need("interception", "identified", procedural_powers=["proc.interception_content"]),
    ]
    gaps = [
        Gap("inst.coe.ets185", "16", "unknown"),
        Gap("inst.coe.ets185", "21", "partial"),
        Gap("inst.coe.ets185", "35", "unknown"),
    ]
    terms = {("inst.coe.ets185", "21"): frozenset({"proc.interception_content"})}
    view = coordinate("KEN", needs, [], gaps, terms)
    assert view["gaps_without_need"] == [{"instrument": "inst.coe.ets185", "article": "35", "coverage": "unknown"}]


def test_overlapping_activities_of_different_providers_in_one_area_are_flagged() -> None:
    evidence = {"themes": ["lesson.digital_evidence"]}
    activities = [
        activity(
            "a", "org:unodc", "planned", [], dates={"planned_start": "2025-03", "planned_end": "2025-11"}, **evidence
        ),
        activity(
            "b", "org:coe", "planned", [], dates={"planned_start": "2025-06", "planned_end": "2026-06"}, **evidence
        ),
        # the same provider twice is its own business, not a duplication
        activity("c", "org:unodc", "ongoing", [], dates={"actual_start": "2025-01"}, **evidence),
        # another area
        activity("d", "GBR", "planned", [], themes=["lesson.children"], dates={"planned_start": "2025"}),
        # an earlier period
        activity("e", "org:oas", "completed", [], dates={"actual_start": "2019", "actual_end": "2020-06"}, **evidence),
        # cancelled
        activity("f", "org:itu", "cancelled", [], dates={"planned_start": "2025"}, **evidence),
    ]
    view = coordinate("KEN", [], activities)
    pairs = [[a["record"] for a in d["activities"]] for d in view["possible_duplicates"]]
    assert pairs == [
        ["org:unodc/assistance/a", "org:coe/assistance/b"],
        ["org:coe/assistance/b", "org:unodc/assistance/c"],
    ]
    assert view["possible_duplicates"][0]["areas"] == ["lesson.digital_evidence"]
    assert view["possible_duplicates"][0]["overlap"] == {"from": "2025-06-01", "to": "2025-11-30"}


def test_periods_widen_partial_dates_and_stay_open_without_an_end() -> None:
    assert period({"dates": {"planned_start": "2024", "planned_end": "2024-02"}}) == ("2024-01-01", "2024-02-29")
    assert period({"dates": {"planned_start": "2025-07", "planned_end": "2025"}}) == ("2025-07-01", "2025-12-31")
    assert period({"dates": {"planned_start": "2020", "actual_start": "2024-05-03"}}) == ("2024-05-03", None)
    assert period({}) == (None, None)
