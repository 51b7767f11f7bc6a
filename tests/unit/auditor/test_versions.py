"""The version check: every accepted log entry is backed by a record version, and an *unchanged*
entry (one naming a version another entry made) must sign exactly that version's content."""

from __future__ import annotations

from typing import Any

from exchange.auditor.report import Report
from exchange.auditor.submissions import Accepted, content_digest
from exchange.auditor.versions import VersionCheck
from exchange.content import content_sha256

RECORD = "EST/law/penal-code"
CONTENT = {"title": "Penal Code"}


def accepted(n: int, version: int, content: Any = CONTENT, schema: str = "law/1") -> Accepted:
    return Accepted(
        submission=f"EST/s{n}",
        submission_id=f"s{n}",
        record=RECORD,
        version=version,
        kid="EST/k1",
        jws_sha256=f"{n:064x}",
        action="upsert",
        schema=schema,
        content=content_digest(content),
        compared=content_sha256(schema, content),
    )


def line(index: int, version: int, seq: int) -> dict[str, Any]:
    return {
        "participant": "EST",
        "kind": "law",
        "record_id": "penal-code",
        "version": version,
        "log_index": index,
        "seq": seq,
        "submission_id": f"s{index}",
        "kid": "EST/k1",
        "jws_sha256": f"{index:064x}",
        "action": "upsert",
        "schema": "law/1",
        "content": CONTENT,
    }


def check(entries: dict[int, Accepted]) -> Report:
    report = Report()
    VersionCheck(entries, 10, report).run(iter([line(0, 1, 1)]))
    return report


def test_an_unchanged_entry_signing_the_versions_content_passes() -> None:
    report = check({0: accepted(0, 1), 1: accepted(1, 1, {"title": "Penal Code"})})
    assert report.ok, report.findings
    assert report.counts["versions"] == 1 and report.counts["unchanged"] == 1


def test_an_unchanged_entry_signing_other_content_or_another_schema_fails() -> None:
    other = check({0: accepted(0, 1), 1: accepted(1, 1, {"title": "Another code"})})
    assert [f.what for f in other.findings] == [
        "accepts submission EST/s1 as EST/law/penal-code v1 unchanged, but it signs other content than that version"
    ]
    schema = check({0: accepted(0, 1), 1: accepted(1, 1, schema="law/2")})
    assert len(schema.findings) == 1 and "other content" in schema.findings[0].what


def test_an_entry_naming_a_version_that_does_not_exist_fails() -> None:
    report = check({0: accepted(0, 1), 1: accepted(1, 2)})
    assert [f.what for f in report.findings] == [
        "accepts submission EST/s1 as EST/law/penal-code v2, but the export has no such record version"
    ]


def test_the_time_an_importer_retrieved_the_text_is_not_content() -> None:
    def imported(at: str) -> dict[str, Any]:
        return {**CONTENT, "provenance": {"connector": "akn", "retrieved_at": at}}

    assert content_sha256("law/1", imported("2026-01-01T00:00:00Z")) == content_sha256(
        "law/1", imported("2027-01-01T00:00:00Z")
    )
    assert content_sha256("law/1", imported("2026-01-01T00:00:00Z")) != content_sha256("law/1", CONTENT)
    assert content_sha256("law/1", CONTENT) != content_sha256("law/2", CONTENT)
    assert content_sha256("law/1", {"n": 1.0}) == content_sha256("law/1", {"n": 1})  # one JSON number
