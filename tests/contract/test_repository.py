"""The repository contract: every adapter (embedded SQLite, PostgreSQL) passes these same tests."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import replace
from typing import Any

import orjson
import pytest

from exchange import times
from exchange.content import content_sha256
from exchange.envelope import SigningKey
from exchange.errors import ExchangeError, Problems
from exchange.models import (
    AuditQuery,
    ChangeQuery,
    Decision,
    DeliveryAttempt,
    Participant,
    QueuedSubmission,
    RecordKey,
    RecordQuery,
    Reindexed,
    StoredCheckpoint,
    Subscription,
    TokenInfo,
)
from exchange.publickeys import PublicKey
from exchange.repository.port import Repository
from exchange.transparency.entries import canonical
from exchange.transparency.merkle import MemoryNodeStore
from exchange.validation import IndexFields


def participant(pid: str = "EST", type_: str = "member_state", jurisdictions: tuple[str, ...] = ()) -> Participant:
    return Participant(pid, f"Participant {pid}", type_, jurisdictions, times.iso(times.now()))


def public_key(kid: str = "EST/2026-01") -> PublicKey:
    signing = SigningKey.generate(kid)
    return PublicKey(kid, kid.split("/")[0], signing.alg, signing.public_jwk, times.now(), added_at=times.now())


def submission(p: str = "EST", kind: str = "law", body: bytes | None = None) -> QueuedSubmission:
    body = body if body is not None else uuid.uuid4().bytes
    return QueuedSubmission(
        p, str(uuid.uuid4()), kind, times.iso(times.now()), hashlib.sha256(body).hexdigest(), "flattened", body
    )


def index(
    jurisdiction: str = "EST",
    tags: tuple[str, ...] = ("off.cia.illegal_access",),
    title: str = "Penal Code",
    status: str | None = "in_force",
) -> IndexFields:
    return IndexFields((jurisdiction,), ("150", "154"), tags, status, title, f"{title} computer crime", "2020-01-01")


def upsert(
    record_id: str = "penal-code",
    p: str = "EST",
    *,
    base: int | None = None,
    content: Any = None,
    idx: IndexFields | None = None,
    kind: str = "law",
) -> Decision:
    return Decision(
        submission=submission(p, kind),
        kid=f"{p}/2026-01",
        payload_sha256="cd" * 32,
        record=RecordKey(p, kind, record_id),
        action="upsert",
        schema=f"{kind}/1",
        content=orjson.dumps(content if content is not None else {"title": record_id}),
        base_version=base,
        index=idx or index(p),
    )


def withdraw(record_id: str = "penal-code", p: str = "EST") -> Decision:
    return Decision(
        submission(p), f"{p}/2026-01", "cd" * 32, record=RecordKey(p, "law", record_id), action="withdraw", schema=None
    )


def rejected(p: str = "EST") -> Decision:
    return Decision(
        submission(p),
        f"{p}/2026-01",
        "cd" * 32,
        errors=({"pointer": "/record/title", "rule": "schema:required", "message": "title is required"},),
    )


async def test_participants(repository: Repository) -> None:
    await repository.add_participant(participant("EST"))
    await repository.add_participant(participant("org:coe", "regional_organization", ("EST", "FRA")))
    with pytest.raises(ExchangeError) as err:
        await repository.add_participant(participant("EST"))
    assert err.value.problem == Problems.ALREADY_EXISTS
    org = await repository.get_participant("org:coe")
    assert org is not None and org.jurisdictions == ("EST", "FRA")
    assert [p.id for p in await repository.list_participants()] == ["EST", "org:coe"]
    assert await repository.get_participant("KEN") is None


async def test_keys_are_logged_and_revocable(repository: Repository) -> None:
    await repository.add_participant(participant("EST"))
    first = public_key("EST/2026-01")
    assert await repository.add_key(first) == 0
    assert await repository.add_key(public_key("EST/2026-02")) == 1
    with pytest.raises(ExchangeError) as err:
        await repository.add_key(first)
    assert err.value.problem == Problems.ALREADY_EXISTS
    with pytest.raises(ExchangeError) as err:
        await repository.add_key(public_key("KEN/a"))
    assert err.value.problem == Problems.NOT_FOUND
    stored = await repository.get_key("EST/2026-01")
    assert stored is not None and stored.jwk == first.jwk and stored.alg == "Ed25519"
    revoked, at_index = await repository.revoke_key("EST/2026-01", "lost laptop", times.iso(times.now()))
    assert at_index == 2 and revoked.revoked_reason == "lost laptop" and revoked.revoked_at is not None
    with pytest.raises(ExchangeError):
        await repository.revoke_key("EST/2026-01", "again", times.iso(times.now()))
    assert [k.kid for k in await repository.list_keys("EST")] == ["EST/2026-01", "EST/2026-02"]
    assert await repository.list_keys("KEN") == []


async def test_tokens(repository: Repository) -> None:
    await repository.add_participant(participant("EST"))
    info = TokenInfo("tok_1", "EST", "participant", "ci", times.iso(times.now()))
    await repository.add_token("h" * 64, info)
    assert await repository.find_token("h" * 64) == info
    assert await repository.find_token("x" * 64) is None
    assert await repository.revoke_token("tok_1", times.iso(times.now()))
    assert not await repository.revoke_token("tok_1", times.iso(times.now()))
    found = await repository.find_token("h" * 64)
    assert found is not None and found.revoked_at is not None
    assert [t.token_id for t in await repository.list_tokens()] == ["tok_1"]


async def test_receive_is_idempotent_and_detects_other_bytes(repository: Repository) -> None:
    sub = submission()
    assert await repository.receive([sub]) == [None]
    [again] = await repository.receive([sub])
    assert again is not None and again.status == "received" and again.jws_sha256 == sub.jws_sha256
    other = QueuedSubmission(sub.participant, sub.submission_id, "law", sub.received_at, "ff" * 32, "flattened", b"x")
    [clash] = await repository.receive([other])
    assert clash is not None and clash.jws_sha256 == sub.jws_sha256
    assert await repository.get_submission_body(sub.participant, sub.submission_id) == (sub.body, "flattened")


async def test_get_submissions_reads_the_states_that_exist(repository: Repository) -> None:
    first, accept = submission(), upsert()
    second = accept.submission
    await repository.receive([first, second])
    [decided] = await repository.decide([accept])
    idents = [(s.participant, s.submission_id) for s in (first, second)] + [("EST", "not-there")]
    states = await repository.get_submissions(idents + idents[:1])
    assert set(states) == set(idents[:2])
    assert states[idents[0]].status == "received" and states[idents[0]].jws_sha256 == first.jws_sha256
    assert states[idents[1]] == decided and decided.status == "accepted"
    assert await repository.get_submissions([]) == {}


async def test_versions_log_and_seq_are_dense(repository: Repository) -> None:
    first, second, bad = upsert(), upsert(content={"title": "v2"}), rejected()
    await repository.receive([first.submission])
    states = await repository.decide([first, second, bad])
    assert [s.status for s in states] == ["accepted", "accepted", "rejected"]
    assert [s.version for s in states] == [1, 2, None]
    assert [s.seq for s in states] == [1, 2, None]
    assert [s.log_index for s in states] == [0, 1, 2]
    assert states[2].errors[0]["pointer"] == "/record/title"
    stored = await repository.get_submission("EST", first.submission.submission_id)
    assert stored is not None and stored.status == "accepted" and stored.record == "EST/law/penal-code"
    current = await repository.get_record(RecordKey("EST", "law", "penal-code"))
    assert current is not None and current.version == 2 and current.content == {"title": "v2"}
    assert current.log_index == 1 and current.seq == 2 and current.kid == "EST/2026-01"
    assert await repository.current_version(RecordKey("EST", "law", "penal-code")) == 2
    assert [v.version for v in await repository.list_versions(RecordKey("EST", "law", "penal-code"))] == [1, 2]
    v1 = await repository.get_version(RecordKey("EST", "law", "penal-code"), 1)
    assert v1 is not None and v1.content == {"title": "penal-code"}


async def test_decide_is_idempotent(repository: Repository) -> None:
    decision = upsert()
    [first] = await repository.decide([decision])
    [again] = await repository.decide([decision])
    assert again.status == "accepted" and again.version == first.version and again.log_index == first.log_index
    twice = await repository.decide([upsert(), rejected()])
    assert [s.log_index for s in twice] == [1, 2]
    dup = upsert()
    both = await repository.decide([dup, dup])
    assert both[0].log_index == both[1].log_index == 3
    assert [v.version for v in await repository.list_versions(RecordKey("EST", "law", "penal-code"))] == [1, 2, 3]


async def test_decide_leaves_an_id_taken_by_other_bytes_alone(repository: Repository) -> None:
    """A worker may meet a submission id the gateway could not check (the database was down): no outcome."""
    first = upsert()
    await repository.receive([first.submission])
    clash = _with_jws(upsert("other"), b'{"other":"bytes"}')
    clash = replace(clash, submission=replace(clash.submission, submission_id=first.submission.submission_id))
    [state] = await repository.decide([clash])
    assert state.status == "received" and state.jws_sha256 == first.submission.jws_sha256
    assert await repository.log_size() == 0 and await repository.last_seq() == 0
    [decided, again] = await repository.decide([first, clash])  # decided first, then clashing in the same batch
    assert decided.status == "accepted" and again == decided
    assert await repository.log_size() == 1
    assert await repository.get_record(RecordKey("EST", "law", "other")) is None
    assert await repository.get_submission_body("EST", first.submission.submission_id) == (
        first.submission.body,
        "flattened",
    )


async def test_base_version_conflict_is_rejected(repository: Repository) -> None:
    await repository.decide([upsert()])
    [stale, fresh] = await repository.decide([upsert(base=3), upsert(base=1)])
    assert stale.status == "rejected" and stale.errors[0]["rule"] == "conflict:base-version"
    assert stale.errors[0]["pointer"] == "/base_version"
    assert fresh.status == "accepted" and fresh.version == 2
    [new_with_base] = await repository.decide([upsert("new-law", base=1)])
    assert new_with_base.status == "rejected"


async def test_content_equal_to_the_current_version_makes_no_version_and_no_change(repository: Repository) -> None:
    key = RecordKey("EST", "law", "penal-code")

    def digested(content: Any) -> Decision:
        decision = upsert(content=content)
        return replace(decision, content_sha256=content_sha256("law/1", content))

    [first] = await repository.decide([digested({"title": "Penal Code"})])
    [same, changed, back] = await repository.decide(
        [
            digested({"title": "Penal Code"}),
            digested({"title": "Penal Code, amended"}),
            digested({"title": "Penal Code"}),
        ]
    )
    assert (same.status, same.unchanged, same.version, same.seq) == ("accepted", True, 1, first.seq)
    assert (changed.unchanged, changed.version, back.unchanged, back.version) == (False, 2, False, 3)
    assert [s.log_index for s in (first, same, changed, back)] == [0, 1, 2, 3]  # every decision is logged
    assert await repository.last_seq() == 3 and await repository.log_size() == 4
    [later] = await repository.decide([digested({"title": "Penal Code"})])  # the view keeps the digest
    assert (later.unchanged, later.version, later.seq) == (True, 3, back.seq)
    stored = await repository.get_submission("EST", later.submission_id)
    assert stored is not None and stored.unchanged and stored.as_dict()["unchanged"] is True
    assert [v.version for v in await repository.list_versions(key)] == [1, 2, 3]
    assert [c.seq for c in await repository.list_changes(ChangeQuery())] == [1, 2, 3]


async def test_a_document_identifier_is_held_by_one_current_record_of_a_participant(repository: Repository) -> None:
    eli = "eli http://data.europa.eu/eli/act/2020/1"

    def law(record_id: str, p: str = "EST", related: frozenset[str] = frozenset()) -> Decision:
        decision = upsert(record_id, p, idx=replace(index(p), identifiers=(eli,)))
        return replace(decision, related=related)

    [first, clash, other_state] = await repository.decide([law("act-a"), law("act-b"), law("act-a", "LVA")])
    assert (first.status, clash.status, other_state.status) == ("accepted", "rejected", "accepted")
    assert clash.errors[0]["rule"] == "conflict:duplicate-identifier" and "EST/law/act-a" in clash.errors[0]["message"]
    assert await repository.identifier_holders([eli, "eli http://example.org/none"]) == {
        eli: [RecordKey("EST", "law", "act-a"), RecordKey("LVA", "law", "act-a")]
    }
    [later] = await repository.decide([law("act-b")])  # the stored holder is found in a later transaction
    assert later.status == "rejected"
    [superseding] = await repository.decide([law("act-b", related=frozenset({"EST/law/act-a"}))])
    assert superseding.status == "accepted"
    await repository.decide([withdraw("act-a"), withdraw("act-b")])
    assert await repository.identifier_holders([eli]) == {eli: [RecordKey("LVA", "law", "act-a")]}
    [free] = await repository.decide([law("act-c")])
    assert free.status == "accepted"


async def test_reindex_rewrites_what_older_versions_did_not_index(repository: Repository) -> None:
    eli = "eli http://data.europa.eu/eli/act/2020/1"
    old = index()  # as a version of the program that knew no identifiers or digests stored it
    await repository.decide([upsert("act-a", idx=old), upsert("act-b", idx=old), withdraw("act-b")])
    key = RecordKey("EST", "law", "act-a")
    assert await repository.identifier_holders([eli]) == {}
    fresh = replace(old, identifiers=(eli,), articles=("inst.coe.ets185", "inst.coe.ets185#2"))
    digest = content_sha256("law/1", {"title": "act-a"})
    done = await repository.reindex(
        [
            Reindexed(key, 1, fresh, digest),
            Reindexed(RecordKey("EST", "law", "act-b"), 1, fresh, digest),  # withdrawn since: left alone
            Reindexed(RecordKey("EST", "law", "act-c"), 1, fresh, digest),  # never stored
        ]
    )
    assert done == 1
    assert await repository.identifier_holders([eli]) == {eli: [key]}
    found = await repository.list_records(RecordQuery(instrument="inst.coe.ets185", article="2"))
    assert [v.key for v in found] == [key]
    resent = replace(upsert("act-a", content={"title": "act-a"}), content_sha256=digest)
    [state] = await repository.decide([resent])
    assert state.unchanged and state.version == 1


async def test_withdrawal_leaves_history(repository: Repository) -> None:
    await repository.decide([upsert()])
    [gone] = await repository.decide([withdraw()])
    assert gone.status == "accepted" and gone.version == 2
    latest = await repository.get_record(RecordKey("EST", "law", "penal-code"))
    assert latest is not None and latest.action == "withdraw" and latest.content is None
    assert await repository.list_records(RecordQuery()) == []
    [again] = await repository.decide([withdraw()])
    assert again.status == "rejected" and again.errors[0]["rule"] == "record:not-found"
    [missing] = await repository.decide([withdraw("never-existed")])
    assert missing.status == "rejected"
    [back] = await repository.decide([upsert()])
    assert back.version == 3
    assert len(await repository.list_records(RecordQuery())) == 1


async def test_log_entries_and_tree_match_an_independent_rebuild(repository: Repository) -> None:
    await repository.add_participant(participant("EST"))
    await repository.add_key(public_key("EST/2026-01"))
    decisions = [upsert(), rejected(), upsert("other")]
    states = await repository.decide(decisions)
    entries = await repository.log_entries(0, 4)
    assert [e[0] for e in entries] == [0, 1, 2, 3]
    store = MemoryNodeStore()
    store.append([e[1] for e in entries])
    assert await repository.log_root(4) == store.root(4)
    accepted = orjson.loads(entries[1][1])
    assert entries[1][1] == canonical(accepted)
    assert accepted["type"] == "submission" and accepted["outcome"] == "accepted"
    assert accepted["index"] == states[0].log_index == 1
    assert accepted["record"] == "EST/law/penal-code" and accepted["version"] == 1
    refused = orjson.loads(entries[2][1])
    assert refused["outcome"] == "rejected" and "record" not in refused
    assert orjson.loads(entries[0][1])["type"] == "key"


async def test_queries_filter_and_paginate(repository: Repository) -> None:
    decisions = [
        upsert("cyber-act", "EST", idx=index("EST", ("off.cia.illegal_access",), "Cybersecurity Act")),
        upsert("fraud-act", "EST", idx=index("EST", ("off.gain.fraud",), "Fraud Act", status="repealed")),
        upsert("misuse-act", "KEN", idx=index("KEN", ("off.cia.illegal_access",), "Computer Misuse Act")),
        upsert("lesson-1", "KEN", kind="lesson", idx=index("KEN", ("lesson.prevention",), "Awareness", status=None)),
    ]
    await repository.decide(decisions)

    async def ids(**filters: Any) -> list[str]:
        return [v.key.record_id for v in await repository.list_records(RecordQuery(**filters))]

    everything = ["cyber-act", "fraud-act", "misuse-act", "lesson-1"]  # by participant, kind, record id
    assert await ids() == everything
    assert await ids(kind="lesson") == ["lesson-1"]
    assert await ids(participant="EST") == ["cyber-act", "fraud-act"]
    assert await ids(jurisdiction="KEN") == ["misuse-act", "lesson-1"]
    assert await ids(tag="off.cia.illegal_access") == ["cyber-act", "misuse-act"]
    assert await ids(status="repealed") == ["fraud-act"]
    assert await ids(region="150") == everything
    assert await ids(q="misuse") == ["misuse-act"]
    assert await ids(q="computer crime misuse") == ["misuse-act"]
    assert await ids(q='act" OR "x') == []
    page = await repository.list_records(RecordQuery(limit=2))
    rest = await repository.list_records(
        RecordQuery(after=(page[-1].key.participant, page[-1].key.kind, page[-1].key.record_id), limit=10)
    )
    assert [v.key.record_id for v in page + rest] == everything


async def test_counts_by_facet_follow_the_filters(repository: Repository) -> None:
    decisions = [
        upsert("cyber-act", "EST", idx=index("EST", ("off.cia.illegal_access",), "Cybersecurity Act")),
        upsert("fraud-act", "EST", idx=index("EST", ("off.gain.fraud",), "Fraud Act", status="repealed")),
        upsert("misuse-act", "KEN", idx=index("KEN", ("off.cia.illegal_access",), "Computer Misuse Act")),
        upsert("lesson-1", "KEN", kind="lesson", idx=index("KEN", ("lesson.prevention",), "Awareness", status=None)),
        upsert("gone", "KEN", idx=index("KEN", ("off.gain.fraud",), "Withdrawn Act")),
    ]
    await repository.decide(decisions)
    await repository.decide([withdraw("gone", "KEN")])

    everything = await repository.count_records(RecordQuery())
    assert everything.total == 4
    assert everything.kinds == {"law": 3, "lesson": 1}
    assert everything.statuses == {"in_force": 2, "repealed": 1}
    assert everything.jurisdictions == {"EST": 2, "KEN": 2}
    assert everything.regions == {"150": 4, "154": 4}
    assert everything.tags == {"off.cia.illegal_access": 2, "off.gain.fraud": 1, "lesson.prevention": 1}

    filtered = await repository.count_records(RecordQuery(tag="off.cia.illegal_access", limit=1))
    assert (filtered.total, filtered.jurisdictions, filtered.kinds) == (2, {"EST": 1, "KEN": 1}, {"law": 2})
    searched = await repository.count_records(RecordQuery(q="misuse", after=("A", "law", "x")))
    assert (searched.total, searched.jurisdictions) == (1, {"KEN": 1})
    nothing = await repository.count_records(RecordQuery(jurisdiction="FRA"))
    assert (nothing.total, nothing.kinds, nothing.tags) == (0, {}, {})


async def test_search_follows_each_new_version(repository: Repository) -> None:
    """Terms and text are those of the current version, whether a version changes them or not."""

    async def ids(**filters: Any) -> list[str]:
        return [v.key.record_id for v in await repository.list_records(RecordQuery(**filters))]

    await repository.decide([upsert("act", idx=index("EST", ("off.cia.illegal_access",), "Computer Misuse Act"))])
    await repository.decide([upsert("act", idx=index("EST", ("off.cia.illegal_access",), "Computer Misuse Act"))])
    assert await ids(q="misuse") == ["act"] and await ids(tag="off.cia.illegal_access") == ["act"]
    await repository.decide([upsert("act", idx=index("KEN", ("off.gain.fraud",), "Fraud Act"))])
    assert await ids(q="misuse") == [] and await ids(q="fraud") == ["act"]
    assert await ids(tag="off.cia.illegal_access") == [] and await ids(tag="off.gain.fraud") == ["act"]
    assert await ids(jurisdiction="EST") == [] and await ids(jurisdiction="KEN") == ["act"]
    await repository.decide([upsert("act", idx=index("KEN", ("off.gain.fraud",), "Fraud Act"))])
    assert await ids(q="fraud") == ["act"] and await ids(tag="off.gain.fraud") == ["act"]


async def test_concurrent_decides_keep_versions_dense(repository: Repository) -> None:
    batches = [[upsert(content={"n": b * 10 + i}) for i in range(5)] for b in range(6)]
    await asyncio.gather(*(repository.decide(batch) for batch in batches))
    versions = await repository.list_versions(RecordKey("EST", "law", "penal-code"))
    assert [v.version for v in versions] == list(range(1, 31))
    assert sorted(v.seq for v in versions) == list(range(1, 31))
    assert sorted(v.log_index for v in versions) == list(range(30))


async def test_audit_lists_decided_submissions_in_log_order(repository: Repository) -> None:
    good, bad, other = upsert(), rejected(), upsert("x", "KEN")
    for d in (good, bad, other):
        await repository.receive([d.submission])
    await repository.receive([submission()])  # received, not decided: not listed
    await repository.decide([good, bad, other])
    listed = await repository.audit_submissions(AuditQuery())
    assert [a.state.submission_id for a in listed] == [d.submission.submission_id for d in (good, bad, other)]
    assert listed[0].body == good.submission.body
    assert listed[0].state.payload_sha256 == "cd" * 32
    assert [a.state.status for a in await repository.audit_submissions(AuditQuery(outcome="rejected"))] == ["rejected"]
    assert len(await repository.audit_submissions(AuditQuery(participant="KEN"))) == 1
    assert len(await repository.audit_submissions(AuditQuery(after=0, limit=1))) == 1
    versions = await repository.all_versions()
    assert [(v.key.record_id, v.seq) for v in versions] == [("penal-code", 1), ("x", 2)]
    assert [v.seq for v in await repository.all_versions(after_seq=1)] == [2]


async def test_checkpoints_keep_the_first_note_of_each_size(repository: Repository) -> None:
    assert await repository.latest_checkpoint() is None
    await repository.decide([upsert(f"r{i}") for i in range(5)])
    root = await repository.log_root(5)
    first = StoredCheckpoint(5, root, "note 5\n", times.iso(times.now()))
    await repository.add_checkpoint(first)
    await repository.add_checkpoint(StoredCheckpoint(5, b"x" * 32, "other", times.iso(times.now())))  # kept as it was
    await repository.add_checkpoint(
        StoredCheckpoint(3, await repository.log_root(3), "note 3\n", times.iso(times.now()))
    )
    assert await repository.latest_checkpoint() == first
    assert [c.size for c in await repository.list_checkpoints()] == [3, 5]
    assert [c.size for c in await repository.list_checkpoints(after=3)] == [5]
    assert [c.size for c in await repository.list_checkpoints(limit=1)] == [3]
    assert (await repository.list_checkpoints())[0].note == "note 3\n"


async def test_log_nodes_are_the_stored_subtree_hashes(repository: Repository) -> None:
    await repository.decide([upsert(f"r{i}") for i in range(5)])
    nodes = await repository.log_nodes([(2, 0), (0, 4), (0, 5), (3, 0)])
    assert set(nodes) == {(2, 0), (0, 4)}  # (0, 5) and (3, 0) do not exist yet in a tree of 5
    store = MemoryNodeStore()
    store.append([entry for _, entry in await repository.log_entries(0, 5)])
    assert nodes == store.get([(2, 0), (0, 4)])
    assert await repository.log_nodes([]) == {}


FLATTENED_JWS = b'{"protected":"eyJhbGciOiJFZERTQSJ9","payload":"e30","signature":"c2ln"}'


def _with_jws(decision: Decision, body: bytes) -> Decision:
    """``decision`` carrying ``body`` as its stored JWS (a JWS is UTF-8 JSON, or compact ASCII)."""
    sub = replace(decision.submission, body=body, jws_sha256=hashlib.sha256(body).hexdigest())
    return replace(decision, submission=sub)


async def test_change_feed_in_seq_order_with_filters_and_includes(repository: Repository) -> None:
    assert await repository.last_seq() == 0
    assert await repository.list_changes(ChangeQuery()) == []
    ken = _with_jws(upsert("b", "KEN", idx=index("KEN")), FLATTENED_JWS)
    await repository.decide([upsert("a", idx=index("EST")), withdraw("a"), ken, rejected()])
    await repository.decide([upsert("a", idx=index("FIN")), withdraw("a")])  # a withdrawal keeps the last jurisdiction
    changes = await repository.list_changes(ChangeQuery())
    assert [(c.seq, c.key.record_id, c.action, c.version, c.jurisdiction) for c in changes] == [
        (1, "a", "upsert", 1, "EST"),
        (2, "a", "withdraw", 2, "EST"),
        (3, "b", "upsert", 1, "KEN"),
        (4, "a", "upsert", 3, "FIN"),
        (5, "a", "withdraw", 4, "FIN"),
    ]
    assert [c.log_index for c in changes] == [0, 1, 2, 4, 5]  # the rejection has a log entry, not a change
    assert changes[2].submission_id == ken.submission.submission_id and changes[2].kid == "KEN/2026-01"
    assert changes[2].received_at == ken.submission.received_at
    assert await repository.last_seq() == 5
    assert [c.seq for c in await repository.list_changes(ChangeQuery(since=1, limit=2))] == [2, 3]
    assert await repository.list_changes(ChangeQuery(since=5)) == []
    assert [c.seq for c in await repository.list_changes(ChangeQuery(jurisdictions=("KEN", "FIN")))] == [3, 4, 5]
    assert [c.seq for c in await repository.list_changes(ChangeQuery(participants=("KEN",), kinds=("law",)))] == [3]
    assert await repository.list_changes(ChangeQuery(kinds=("case",))) == []
    [full] = await repository.list_changes(ChangeQuery(since=2, limit=1, include_content=True, include_jws=True))
    assert full.content == {"title": "b"}
    assert full.jws == FLATTENED_JWS.decode()
    [withdrawn] = await repository.list_changes(ChangeQuery(since=1, limit=1, include_content=True))
    assert withdrawn.action == "withdraw" and withdrawn.content is None
    [bare] = await repository.list_changes(ChangeQuery(since=2, limit=1))
    assert bare.content is None
    assert bare.jws is None


def subscription(sid: str, owner: str = "sub", created_at: str = "2026-01-01T00:00:00.000000Z") -> Subscription:
    return Subscription(sid, owner, "https://example.test/hook", ("law",), (), ("EST",), "whsec_x", "active", 0,
                        created_at)  # fmt: skip


async def test_subscriptions_round_trip_and_update_by_compare_and_set(repository: Repository) -> None:
    await repository.add_subscription(subscription("s1", created_at="2026-01-01T00:00:01.000000Z"))
    await repository.add_subscription(subscription("s0", created_at="2026-01-01T00:00:01.000000Z"))
    await repository.add_subscription(subscription("s2", "other", created_at="2026-01-01T00:00:00.000000Z"))
    with pytest.raises(ExchangeError) as err:
        await repository.add_subscription(subscription("s0"))
    assert err.value.problem == Problems.ALREADY_EXISTS
    assert await repository.get_subscription("s0") == subscription("s0", created_at="2026-01-01T00:00:01.000000Z")
    assert await repository.get_subscription("nope") is None
    assert [s.id for s in await repository.list_subscriptions()] == ["s2", "s0", "s1"]  # by creation, then id
    assert [s.id for s in await repository.list_subscriptions("sub")] == ["s0", "s1"]

    assert await repository.update_subscription("s0", {"cursor": 5}, {"status": "active"})
    assert not await repository.update_subscription("s0", {"cursor": 9}, {"status": "paused"})  # someone paused it
    assert await repository.update_subscription("s0", {"lease_owner": "w1"}, {"lease_owner": None})
    assert not await repository.update_subscription("s0", {"lease_owner": "w2"}, {"lease_owner": None})
    assert await repository.update_subscription("s1", {"status": "paused", "jurisdictions": ("KEN", "FIN")})
    assert not await repository.update_subscription("nope", {"cursor": 1})
    with pytest.raises(ValueError, match="owner"):
        await repository.update_subscription("s1", {"owner": "thief"})
    got = await repository.get_subscription("s0")
    assert got is not None and got.cursor == 5 and got.lease_owner == "w1"
    stored = await repository.get_subscription("s1")
    assert stored is not None and stored.jurisdictions == ("KEN", "FIN") and stored.status == "paused"

    assert await repository.delete_subscription("s2")
    assert not await repository.delete_subscription("s2")
    assert [s.id for s in await repository.list_subscriptions()] == ["s0", "s1"]


async def test_concurrent_claims_lease_each_subscription_once(repository: Repository) -> None:
    for n in range(6):
        await repository.add_subscription(subscription(f"s{n}", created_at=f"2026-01-01T00:00:0{n}.000000Z"))
    await repository.update_subscription("s1", {"status": "paused"})
    await repository.update_subscription("s4", {"status": "pending"})
    now, until = "2026-01-02T00:00:00.000000Z", "2026-01-02T00:01:00.000000Z"
    first, second = await asyncio.gather(
        repository.claim_subscriptions("w1", until, now, 3), repository.claim_subscriptions("w2", until, now, 3)
    )
    ids = [s.id for s in first] + [s.id for s in second]
    assert sorted(ids) == ["s0", "s2", "s3", "s4", "s5"]  # s1 is paused; nobody got one twice
    assert all(s.lease_owner == "w1" and s.lease_until == until for s in first)
    assert all(s.lease_owner == "w2" for s in second)
    for claimed in (first, second):
        assert [s.created_at for s in claimed] == sorted(s.created_at for s in claimed)
    assert await repository.claim_subscriptions("w3", until, now, 10) == []  # leases still held
    again = await repository.claim_subscriptions("w1", until, now, 10)  # a holder renews its own leases
    assert [s.id for s in again] == sorted(s.id for s in first)
    later = await repository.claim_subscriptions("w3", until, "2026-01-03T00:00:00.000000Z", 10)
    assert [s.id for s in later] == ["s0", "s2", "s3", "s4", "s5"]  # expired leases pass on, oldest first
    stored = await repository.get_subscription("s0")
    assert stored is not None and stored.lease_owner == "w3"


async def test_delivery_attempts_are_listed_newest_first(repository: Repository) -> None:
    await repository.add_subscription(subscription("s0"))
    await repository.add_subscription(subscription("s1"))
    attempts = [
        DeliveryAttempt("s0", 1, "msg_1", 1, "2026-01-01T00:00:00.000000Z", None, 10000.0, "timed out"),
        DeliveryAttempt("s0", 1, "msg_1", 2, "2026-01-01T00:00:02.000000Z", 500, 12.5, "HTTP 500"),
        DeliveryAttempt("s0", 1, "msg_1", 3, "2026-01-01T00:00:06.000000Z", 204, 3.25),
        DeliveryAttempt("s1", 1, "msg_2", 1, "2026-01-01T00:00:06.000000Z", 200, 1.0),
    ]
    for attempt in attempts:
        await repository.add_delivery(attempt)
    assert await repository.list_deliveries("s0") == attempts[2::-1]
    assert await repository.list_deliveries("s0", limit=1) == [attempts[2]]
    assert await repository.list_deliveries("s1") == [attempts[3]]
    assert await repository.list_deliveries("nope") == []


async def test_a_delivery_attempt_and_its_outcome_are_written_together(repository: Repository) -> None:
    await repository.add_subscription(subscription("s0"))
    attempt = DeliveryAttempt("s0", 1, "msg_1", 1, "2026-01-01T00:00:00.000000Z", 204, 3.0)
    assert await repository.add_delivery(attempt, {"cursor": 1}, {"cursor": 0, "status": "active"})
    stored = await repository.get_subscription("s0")
    assert stored is not None and stored.cursor == 1
    late = DeliveryAttempt("s0", 2, "msg_2", 1, "2026-01-01T00:00:01.000000Z", 204, 3.0)
    assert not await repository.add_delivery(late, {"cursor": 2}, {"cursor": 0})  # a replay moved it meanwhile
    stored = await repository.get_subscription("s0")
    assert stored is not None and stored.cursor == 1
    assert await repository.list_deliveries("s0") == [late, attempt]  # the attempt is kept all the same


async def test_records_are_found_by_instrument_and_article(repository: Repository) -> None:
    def with_articles(*articles: str) -> IndexFields:
        fields = index("EST")
        return IndexFields(*[getattr(fields, name) for name in ("jurisdictions", "regions", "tags", "status", "title", "text", "date")], articles=articles)  # fmt: skip

    await repository.decide(
        [
            upsert("cma", idx=with_articles("inst.coe.ets185", "inst.coe.ets185#2", "inst.un.uncc2024#7")),
            upsert("fraud", idx=with_articles("inst.coe.ets185", "inst.coe.ets185#8")),
            upsert("none", idx=with_articles()),
        ]
    )

    async def ids(**filters: Any) -> list[str]:
        return [v.key.record_id for v in await repository.list_records(RecordQuery(**filters))]

    assert await ids(instrument="inst.coe.ets185") == ["cma", "fraud"]
    assert await ids(instrument="inst.coe.ets185", article="2") == ["cma"]
    assert await ids(instrument="inst.un.uncc2024", article="7") == ["cma"]
    assert await ids(instrument="inst.un.uncc2024", article="8") == []
    counted = await repository.count_records(RecordQuery(instrument="inst.coe.ets185", article="8"))
    assert counted.total == 1
