"""Coverage on hand-made laws, each expected cell written out by hand."""

from __future__ import annotations

from typing import Any

from exchange.coverage import Coverage, Instrument, instruments, matrix
from exchange.models import RecordKey, RecordVersion
from exchange.validation.catalogue import Catalogue

CATALOGUE = instruments(Catalogue.from_package().vocabularies)
BUDAPEST = CATALOGUE["inst.coe.ets185"]
UNCC = CATALOGUE["inst.un.uncc2024"]
seq = 0


def law(
    state: str, record_id: str, status: str, provisions: list[dict[str, Any]], version: int = 1, **more: Any
) -> RecordVersion:
    global seq
    seq += 1
    content = {"jurisdiction": state, "title": {"original": {"lang": "en", "text": record_id}}, "status": status}
    content |= {"provisions": provisions, **more} if provisions else more
    return RecordVersion(
        RecordKey(state, "law", record_id),
        version,
        "upsert",
        "law/1",
        content,
        "00000000-0000-4000-8000-000000000000",
        f"{state}/k1",
        "0" * 64,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
        seq,
        seq,
    )


def withdrawal(state: str, record_id: str, version: int) -> RecordVersion:
    gone = law(state, record_id, "in_force", [], version)
    return RecordVersion(
        gone.key, version, "withdraw", None, None, gone.submission_id, gone.kid, gone.jws_sha256,
        gone.received_at, gone.accepted_at, gone.log_index, gone.seq,
    )  # fmt: skip


def ref(number: str, instrument: str = "inst.coe.ets185") -> dict[str, str]:
    return {"instrument": instrument, "article": number}


def cells(coverage: Coverage, instrument: Instrument, state: str, *numbers: str) -> dict[str, str]:
    found = coverage.state(instrument, state)
    return {n: found[n].status for n in numbers}


def test_cells_follow_the_status_of_each_provision() -> None:
    coverage = Coverage(CATALOGUE)
    coverage.apply(
        law(
            "ZAF",
            "cybercrimes-act",
            "partially_in_force",
            [
                {"num": "2", "instrument_refs": [ref("2")], "status": "in_force"},
                {"num": "3", "instrument_refs": [ref("3")]},  # the law's status: partly in force
                {"num": "16", "instrument_refs": [ref("16")], "status": "adopted_not_in_force"},
                {"num": "17", "instrument_refs": [ref("17(1)")], "status": "draft"},  # counts for nothing
                {"num": "4", "instrument_refs": [ref("4")], "status": "repealed"},
            ],
        )
    )
    assert cells(coverage, BUDAPEST, "ZAF", "2", "3", "16", "17", "4", "5") == {
        "2": "covered",
        "3": "partial",
        "16": "partial",
        "17": "unknown",
        "4": "unknown",
        "5": "unknown",
    }
    evidence = coverage.state(BUDAPEST, "ZAF")["2"].evidence
    assert [(e.record, e.provision, e.legal_status, e.via) for e in evidence] == [
        ("ZAF/law/cybercrimes-act", "2", "in_force", "reference")
    ]


def test_the_best_provision_of_any_law_decides_and_tags_count_where_no_article_is_named() -> None:
    coverage = Coverage(CATALOGUE)
    coverage.apply(law("KEN", "draft-bill", "adopted_not_in_force", [{"num": "1", "instrument_refs": [ref("2")]}]))
    coverage.apply(law("KEN", "penal-code", "in_force", [{"num": "9", "instrument_refs": [ref("2")]}]))
    # no Budapest article named: the provision's tags decide, for Budapest and the UN Convention alike
    coverage.apply(law("KEN", "fraud-act", "amended", [{"num": "5", "offence_categories": ["off.gain.fraud"]}]))
    assert cells(coverage, BUDAPEST, "KEN", "2", "8") == {"2": "covered", "8": "covered"}
    assert cells(coverage, UNCC, "KEN", "13", "7") == {"13": "covered", "7": "unknown"}
    assert [e.via for e in coverage.state(BUDAPEST, "KEN")["8"].evidence] == ["tags"]
    # a law whose provisions are not itemised counts by its own tags
    coverage.apply(law("EST", "penal-code", "in_force", [], procedural_powers=["proc.production_order"]))
    assert cells(coverage, BUDAPEST, "EST", "18", "2") == {"18": "covered", "2": "unknown"}


def test_a_new_version_remaps_and_a_withdrawal_removes() -> None:
    coverage = Coverage(CATALOGUE)
    coverage.apply(law("GBR", "cma", "in_force", [{"num": "1", "instrument_refs": [ref("2")]}]))
    coverage.apply(law("GBR", "other", "in_force", [{"num": "3", "instrument_refs": [ref("5")]}]))
    assert cells(coverage, BUDAPEST, "GBR", "2", "3", "5") == {"2": "covered", "3": "unknown", "5": "covered"}
    # version 2 maps the provision to article 3 instead
    coverage.apply(law("GBR", "cma", "in_force", [{"num": "1", "instrument_refs": [ref("3")]}], version=2))
    assert cells(coverage, BUDAPEST, "GBR", "2", "3") == {"2": "unknown", "3": "covered"}
    # a stale version 1 arriving late changes nothing
    coverage.apply(law("GBR", "cma", "in_force", [{"num": "1", "instrument_refs": [ref("2")]}], version=1))
    assert cells(coverage, BUDAPEST, "GBR", "2", "3") == {"2": "unknown", "3": "covered"}
    coverage.apply(withdrawal("GBR", "other", 2))
    assert cells(coverage, BUDAPEST, "GBR", "5") == {"5": "unknown"}
    coverage.apply(withdrawal("GBR", "cma", 3))
    assert coverage.jurisdictions() == set()


def test_the_matrix_counts_each_status_per_state() -> None:
    coverage = Coverage(CATALOGUE)
    coverage.apply(law("IRL", "act", "in_force", [{"num": "2", "instrument_refs": [ref("2"), ref("3")]}]))
    coverage.apply(law("DEU", "stgb", "partially_in_force", [{"num": "202a", "instrument_refs": [ref("2")]}]))
    rows = {row["jurisdiction"]: row for row in matrix(coverage, BUDAPEST, ["DEU", "IRL", "FRA"])}
    total = len(BUDAPEST.articles)
    assert rows["IRL"]["counts"] == {"covered": 2, "partial": 0, "unknown": total - 2}
    assert rows["DEU"]["counts"] == {"covered": 0, "partial": 1, "unknown": total - 1}
    assert rows["FRA"]["counts"] == {"covered": 0, "partial": 0, "unknown": total}
    assert rows["IRL"]["cells"]["3"] == "covered" and rows["DEU"]["cells"]["2"] == "partial"
