"""The sequencer's plan: one dense order of log indexes and feed seqs, and the rules of acceptance."""

from __future__ import annotations

import json

from exchange.models import Decision, QueuedSubmission, RecordKey, SubmissionState
from exchange.sequencer import Current, Plan, plan
from exchange.validation import IndexFields

LAW = RecordKey("EST", "law", "penal-code")
OTHER = RecordKey("EST", "law", "cybersecurity-act")


def message(n: int, jws: str | None = None) -> QueuedSubmission:
    return QueuedSubmission(
        participant="EST",
        submission_id=f"00000000-0000-4000-8000-{n:012d}",
        kind="law",
        received_at="2026-12-01T10:00:00.000000Z",
        jws_sha256=jws or f"{n:064x}",
        serialization="flattened",
        body=b"{}",
    )


def upsert(n: int, key: RecordKey = LAW, base: int | None = None) -> Decision:
    return Decision(
        message(n), "EST/k1", f"{n:064x}", record=key, schema="law/1", content=b'{"title": "x"}', base_version=base
    )


def withdraw(n: int, key: RecordKey = LAW) -> Decision:
    return Decision(message(n), "EST/k1", f"{n:064x}", record=key, action="withdraw")


def rejected(n: int) -> Decision:
    return Decision(
        message(n), "EST/k1", f"{n:064x}", errors=({"pointer": "/record", "rule": "schema", "message": "x"},)
    )


def run(
    decisions: list[Decision],
    current: dict[RecordKey, Current] | None = None,
    existing: dict[tuple[str, str], SubmissionState] | None = None,
    holders: dict[str, list[RecordKey]] | None = None,
) -> Plan:
    """Plan with the log at index 7 and the feed at seq 3."""
    return plan(decisions, existing or {}, current or {}, 7, 3, "2026-12-01T10:00:01.000000Z", holders)


def test_every_outcome_gets_the_next_log_index_and_every_accepted_change_the_next_seq() -> None:
    result = run([upsert(1), rejected(2), upsert(3, OTHER), upsert(4)])
    assert [s.status for s in result.states] == ["accepted", "rejected", "accepted", "accepted"]
    assert [s.log_index for s in result.states] == [7, 8, 9, 10]
    assert [s.seq for s in result.states] == [3, None, 4, 5]
    assert [(str(v.key), v.version, v.seq, v.log_index) for v in result.versions] == [
        ("EST/law/penal-code", 1, 3, 7),
        ("EST/law/cybersecurity-act", 1, 4, 9),
        ("EST/law/penal-code", 2, 5, 10),  # two versions of one record in one batch, in order
    ]
    assert [e.index for e in result.entries] == [7, 8, 9, 10]


def test_log_entries_say_what_was_decided() -> None:
    result = run([upsert(1), rejected(2)])
    first, second = (json.loads(e.entry) for e in result.entries)
    assert (first["outcome"], first["record"], first["version"], first["index"]) == ("accepted", str(LAW), 1, 7)
    assert (second["outcome"], second["index"]) == ("rejected", 8)
    assert "record" not in second or second["record"] is None


def test_a_stale_base_version_is_rejected_and_takes_no_seq() -> None:
    result = run([upsert(1, base=1), upsert(2, base=2)], {LAW: Current(2, False)})
    assert [s.status for s in result.states] == ["rejected", "accepted"]
    assert result.states[0].errors[0]["rule"] == "conflict:base-version"
    assert result.states[0].errors[0]["pointer"] == "/base_version"
    assert (result.states[1].version, result.states[1].seq) == (3, 3)


def test_withdrawing_a_missing_or_withdrawn_record_is_rejected() -> None:
    result = run([withdraw(1), withdraw(2, OTHER)], {OTHER: Current(4, True)})
    assert [s.status for s in result.states] == ["rejected", "rejected"]
    assert {s.errors[0]["rule"] for s in result.states} == {"record:not-found"}
    assert result.versions == []
    assert [s.log_index for s in result.states] == [7, 8]  # rejections are logged too


def test_a_withdrawal_then_a_new_version_in_one_batch() -> None:
    result = run([withdraw(1), upsert(2)], {LAW: Current(1, False)})
    assert [(v.version, v.decision.action) for v in result.versions] == [(2, "withdraw"), (3, "upsert")]


def test_a_redelivery_keeps_its_stored_state_and_takes_no_place() -> None:
    stored = SubmissionState("EST", message(1).submission_id, message(1).jws_sha256, "t", "accepted", log_index=2)
    existing = {("EST", message(1).submission_id): stored}
    result = run([upsert(1), upsert(2)], existing=existing)
    assert result.states[0] is stored
    assert [s.log_index for s in result.states[1:]] == [7]
    assert [s.seq for s in result.states[1:]] == [3]


def test_the_same_id_with_other_bytes_is_not_decided() -> None:
    received = SubmissionState("EST", message(1).submission_id, "f" * 64, "t", "received")
    result = run([upsert(1)], existing={("EST", message(1).submission_id): received})
    assert result.states == [received]  # the caller sees other bytes and dead-letters the delivery
    assert result.entries == [] and result.versions == []


def test_the_same_submission_twice_in_one_batch_is_decided_once() -> None:
    result = run([upsert(1), upsert(1)])
    assert len(result.entries) == 1
    assert result.states[0] is result.states[1]


def same(n: int, digest: str = "a" * 64, base: int | None = None) -> Decision:
    """An upsert of LAW whose schema and record hash to ``digest``."""
    return Decision(
        message(n),
        "EST/k1",
        f"{n:064x}",
        record=LAW,
        schema="law/1",
        content=b'{"title": "x"}',
        content_sha256=digest,
        base_version=base,
    )


def test_an_upsert_equal_to_the_current_version_is_accepted_unchanged_without_a_version_or_a_seq() -> None:
    result = run([same(1), same(2, "b" * 64)], {LAW: Current(4, False, "a" * 64, 2)})
    first, second = result.states
    assert (first.status, first.unchanged, first.version, first.seq, first.log_index) == ("accepted", True, 4, 2, 7)
    assert (second.status, second.unchanged, second.version, second.seq) == ("accepted", False, 5, 3)
    assert [(v.version, v.seq) for v in result.versions] == [(5, 3)]
    entry = json.loads(result.entries[0].entry)
    assert (entry["outcome"], entry["record"], entry["version"]) == ("accepted", str(LAW), 4)


def test_within_one_batch_the_second_of_two_equal_upserts_is_unchanged() -> None:
    result = run([same(1), same(2), same(3, base=1)])
    assert [(s.version, s.seq, s.unchanged) for s in result.states] == [(1, 3, False), (1, 3, True), (1, 3, True)]
    assert len(result.versions) == 1


def test_equal_content_is_a_new_version_after_a_withdrawal_or_when_the_digest_is_unknown() -> None:
    withdrawn = run([same(1)], {LAW: Current(2, True, "a" * 64, 5)})
    assert (withdrawn.states[0].version, withdrawn.states[0].unchanged) == (3, False)
    unknown = run([same(1)], {LAW: Current(2, False, None, 5)})
    assert (unknown.states[0].version, unknown.states[0].unchanged) == (3, False)
    stale = run([same(1, base=1)], {LAW: Current(2, False, "a" * 64, 5)})
    assert stale.states[0].status == "rejected"  # base_version is checked first


ELI = "eli http://data.europa.eu/eli/act/2020/1"


def with_ids(n: int, key: RecordKey, related: frozenset[str] = frozenset()) -> Decision:
    """An upsert of ``key`` whose record carries the identifier ELI."""
    index = IndexFields(("EST",), (), (), None, "x", "x", None, identifiers=(ELI,))
    return Decision(
        message(n), "EST/k1", f"{n:064x}", record=key, schema="law/1", content=b"{}", index=index, related=related
    )


def test_an_identifier_held_by_another_record_of_the_participant_is_a_conflict() -> None:
    result = run([with_ids(1, OTHER)], holders={ELI: [LAW]})
    [state] = result.states
    assert state.status == "rejected" and not result.versions
    [error] = state.errors
    assert (error["rule"], error["pointer"]) == ("conflict:duplicate-identifier", "/record/identifiers")
    assert str(LAW) in error["message"] and ELI in error["message"]


def test_the_record_itself_a_relation_or_another_participant_make_no_conflict() -> None:
    assert run([with_ids(1, LAW)], holders={ELI: [LAW]}).states[0].status == "accepted"
    by_record = run([with_ids(1, OTHER, frozenset({str(LAW)}))], holders={ELI: [LAW]})
    by_identifier = run([with_ids(1, OTHER, frozenset({ELI}))], holders={ELI: [LAW]})
    elsewhere = run([with_ids(1, OTHER)], holders={ELI: [RecordKey("LVA", "law", "penal-code")]})
    assert [r.states[0].status for r in (by_record, by_identifier, elsewhere)] == ["accepted"] * 3


def test_within_one_batch_a_later_record_meets_the_identifier_an_earlier_one_took() -> None:
    result = run([with_ids(1, LAW), with_ids(2, OTHER), withdraw(3), with_ids(4, OTHER)])
    assert [s.status for s in result.states] == ["accepted", "rejected", "accepted", "accepted"]
