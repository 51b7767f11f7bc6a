"""The sequencer's plan: one order for every outcome.

Given a batch of verdicts and the state they apply to (read inside the adapter's write transaction,
under its lock), :func:`plan` decides the final outcome of each submission and assigns, densely and in
order, the next log index to every outcome and the next change ``seq`` to every accepted change.
Adapters only read the inputs and write the rows; the rules live here, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from exchange.models import Decision, RecordKey, Review, SubmissionState
from exchange.transparency.entries import Outcome, endorsement_entry, review_entry, submission_entry


@dataclass(frozen=True, slots=True)
class Current:
    """A record's current version as the sequencer needs it."""

    version: int
    withdrawn: bool
    content_sha256: str | None = None  # of its schema and content (None: unknown, so never "unchanged")
    seq: int | None = None  # the change that made it


@dataclass(frozen=True, slots=True)
class NewVersion:
    key: RecordKey
    version: int
    decision: Decision
    seq: int
    log_index: int
    #: published by an editor's approval: {action, by, submission_id, log_index, decided_at, comments?}
    review: dict[str, Any] | None = None
    #: when it was accepted; None: now (a mirror copies the upstream's time)
    accepted_at: str | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int
    entry: bytes

    @property
    def leaf_hash(self) -> bytes:
        return hashlib.sha256(b"\x00" + self.entry).digest()


@dataclass(slots=True)
class Plan:
    states: list[SubmissionState] = field(default_factory=list)
    decided: list[tuple[Decision, SubmissionState]] = field(default_factory=list)
    versions: list[NewVersion] = field(default_factory=list)
    entries: list[LogEntry] = field(default_factory=list)
    #: reviewed submissions an editor's decision settled: their new status (their other columns stay)
    reviewed: list[SubmissionState] = field(default_factory=list)
    #: endorsements to add to the versions they endorse: (record, version, {by, submission_id, log_index, at})
    endorsed: list[tuple[RecordKey, int, dict[str, Any]]] = field(default_factory=list)


def _reject(rule: str, pointer: str, message: str) -> tuple[dict[str, str], ...]:
    return ({"pointer": pointer, "rule": rule, "message": message},)


def plan(
    decisions: Sequence[Decision],
    existing: Mapping[tuple[str, str], SubmissionState],
    current: Mapping[RecordKey, Current],
    next_index: int,
    next_seq: int,
    decided_at: str,
    holders: Mapping[str, Iterable[RecordKey]] | None = None,
) -> Plan:
    """Decide every submission of the batch; the result lists one state per decision, in order.

    A submission whose ``(participant, submission_id)`` already holds an outcome, or holds other bytes,
    is not decided again: its state is the stored one. An upsert whose schema and record equal the
    current version's (in RFC 8785 form) is accepted as *unchanged*: it names that version and its seq,
    is logged like any decision, and makes no version and no change. ``holders`` maps each document
    identifier the upserts carry to the current (not withdrawn) records holding it: an upsert whose
    identifier another record of its participant and kind holds is rejected, unless it names that
    record or identifier in its relations.

    Review: a submission ``held`` for review that would be accepted (and is not unchanged) is decided
    ``pending_review``: logged, but no version and no change. An editor's ``approve`` of it (``existing``
    holds the reviewed submission's state too) is checked as the reviewed submission would be now; it
    gives that submission its version and the next seq, at the approval's own log entry (a ``review``
    entry), and the reviewed submission becomes ``accepted``. A ``return`` makes it ``returned``. A
    review of a submission that is not pending is rejected.
    """
    out = Plan()
    current = dict(current)
    held = {term: set(keys) for term, keys in (holders or {}).items()}
    seen: dict[tuple[str, str], SubmissionState] = {}
    for decision in decisions:
        sub = decision.submission
        ident = (sub.participant, sub.submission_id)
        prior = seen.get(ident) or existing.get(ident)
        if prior is not None and (prior.status != "received" or prior.jws_sha256 != sub.jws_sha256):
            # Decided already (a redelivery), or the id is taken by other bytes (a conflict the gateway
            # could not see while the database was unreachable): nothing to write; the caller compares
            # the state's jws_sha256 with its own to tell the two apart.
            out.states.append(prior)
            continue
        if decision.endorse is not None:
            state = _endorsement(decision, next_index, decided_at, out)
            next_index += 1
            seen[ident] = state
            out.states.append(state)
            out.decided.append((decision, state))
            continue
        errors = decision.errors
        review = decision.review
        applied = decision.applied
        reviewed: SubmissionState | None = None
        if not errors and review is not None:
            reviewed = seen.get(review.reviewed) or existing.get(review.reviewed)
            errors = _review_errors(review, reviewed)
        key = applied.record if review is None or review.action == "approve" else None
        version = None
        unchanged: Current | None = None
        pending = False
        if not errors and key is not None:
            cur = current.get(key)
            cur_version = cur.version if cur else 0
            if applied.base_version is not None and applied.base_version != cur_version:
                errors = _reject(
                    "conflict:base-version",
                    "/base_version",
                    f"base_version {applied.base_version} is not the current version {cur_version} of {key}",
                )
            elif applied.action == "withdraw" and (cur is None or cur.withdrawn):
                errors = _reject("record:not-found", "/record_id", f"there is no current record {key} to withdraw")
            elif applied.action == "upsert" and (clash := _duplicate(applied, key, held)) is not None:
                errors = _reject("conflict:duplicate-identifier", "/record/identifiers", clash.message)
            elif _same(applied, cur):
                unchanged = cur
                version = cur_version
            elif decision.held:
                pending = True
            else:
                version = cur_version + 1
                current[key] = Current(version, applied.action == "withdraw", applied.content_sha256, next_seq)
                _hold(held, key, applied)
        accepted = not errors and (key is not None or review is not None)
        outcome: Outcome = "pending_review" if accepted and pending else "accepted" if accepted else "rejected"
        index = next_index
        next_index += 1
        published = outcome == "accepted" and key is not None
        state = SubmissionState(
            participant=sub.participant,
            submission_id=sub.submission_id,
            jws_sha256=sub.jws_sha256,
            received_at=sub.received_at,
            status=outcome,
            kind=sub.kind,
            kid=decision.kid,
            errors=[] if accepted else [dict(e) for e in errors],
            record=str(key) if published else None,
            version=version if published else None,
            log_index=index,
            decided_at=decided_at,
            payload_sha256=decision.payload_sha256 or None,
        )
        by = None
        if review is not None and accepted:
            state.review = {
                "action": review.action,
                "participant": review.participant,
                "submission_id": review.submission_id,
            }
            by = {
                "action": review.action,
                "by": decision.kid,
                "submission_id": sub.submission_id,
                "log_index": index,
                "decided_at": decided_at,
                **({"comments": review.comments} if review.comments else {}),
            }
        if unchanged is not None:
            state.seq, state.unchanged = unchanged.seq, True
        elif published and key is not None and version is not None:
            state.seq = next_seq
            out.versions.append(NewVersion(key, version, applied, next_seq, index, by))
            next_seq += 1
        if reviewed is not None and review is not None and accepted:
            after = _reviewed_state(reviewed, state, by or {}, review.action)
            seen[review.reviewed] = after
            out.reviewed.append(after)
        out.entries.append(LogEntry(index, _entry(decision, state, outcome, reviewed if accepted else None)))
        seen[ident] = state
        out.states.append(state)
        out.decided.append((decision, state))
    return out


def _signed(decision: Decision, index: int | None) -> dict[str, Any]:
    """The fields of the log entry that name the decided submission itself."""
    sub = decision.submission
    return {
        "index": index,
        "submission_id": sub.submission_id,
        "participant": sub.participant,
        "kid": decision.kid,
        "jws_sha256": sub.jws_sha256,
        "payload_sha256": decision.payload_sha256,
        "received_at": sub.received_at,
    }


def _endorsement(decision: Decision, index: int, decided_at: str, out: Plan) -> SubmissionState:
    """A participant's endorsement of a version of its record: logged, and added to the version's
    provenance (the worker checked that the version exists with the JWS it names: versions never change)."""
    sub, endorse, key = decision.submission, decision.endorse, decision.record
    assert endorse is not None
    accepted = not decision.errors and key is not None
    state = SubmissionState(
        participant=sub.participant,
        submission_id=sub.submission_id,
        jws_sha256=sub.jws_sha256,
        received_at=sub.received_at,
        status="accepted" if accepted else "rejected",
        kind=sub.kind,
        kid=decision.kid,
        errors=[] if accepted else [dict(e) for e in decision.errors],
        record=str(key) if accepted else None,
        version=endorse.version if accepted else None,
        log_index=index,
        decided_at=decided_at,
        payload_sha256=decision.payload_sha256 or None,
    )
    common = _signed(decision, index)
    if accepted and key is not None:
        entry = endorsement_entry(
            **common, record=str(key), version=endorse.version, endorsed_jws_sha256=endorse.jws_sha256
        )
        by = {"by": decision.kid, "submission_id": sub.submission_id, "log_index": index, "at": decided_at}
        out.endorsed.append((key, endorse.version, by))
    else:
        entry = submission_entry(**common, outcome="rejected")
    out.entries.append(LogEntry(index, entry))
    return state


def _review_errors(review: Review, reviewed: SubmissionState | None) -> tuple[dict[str, str], ...]:
    """Why an editor's review cannot take effect (empty if it can)."""
    name = f"{review.participant}/{review.submission_id}"
    if reviewed is None or reviewed.jws_sha256 != review.jws_sha256:
        return _reject(
            "review:not-found", "/review", f"there is no submission {name} with jws_sha256 {review.jws_sha256}"
        )
    if reviewed.status != "pending_review":
        return _reject("review:not-pending", "/review", f"submission {name} is {reviewed.status}, not pending_review")
    if review.action == "approve" and review.decision is None:
        return _reject("review:not-found", "/review", f"the stored submission {name} could not be read again")
    return ()


def _reviewed_state(
    reviewed: SubmissionState, decided: SubmissionState, by: dict[str, Any], action: str
) -> SubmissionState:
    """The reviewed submission once the editor's decision took effect (its own log entry stays)."""
    return replace(
        reviewed,
        status="accepted" if action == "approve" else "returned",
        record=decided.record,
        version=decided.version,
        seq=decided.seq,
        unchanged=decided.unchanged,
        decided_at=decided.decided_at,
        review=by,
    )


def _entry(decision: Decision, state: SubmissionState, outcome: Outcome, reviewed: SubmissionState | None) -> bytes:
    common = _signed(decision, state.log_index)
    if decision.review is not None and reviewed is not None:
        return review_entry(
            **common,
            action=decision.review.action,
            reviewed_participant=reviewed.participant,
            reviewed_submission_id=reviewed.submission_id,
            reviewed_jws_sha256=reviewed.jws_sha256,
            record=state.record,
            version=state.version,
        )
    return submission_entry(**common, outcome=outcome, record=state.record, version=state.version)


def _same(decision: Decision, cur: Current | None) -> bool:
    """Whether an upsert holds exactly the current (not withdrawn) version's schema and record."""
    return (
        decision.action == "upsert"
        and cur is not None
        and not cur.withdrawn
        and cur.content_sha256 is not None
        and decision.content_sha256 == cur.content_sha256
    )


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An identifier of an upsert that another record of the same participant and kind holds."""

    identifier: str
    holder: RecordKey

    @property
    def message(self) -> str:
        return (
            f"identifier {self.identifier} is already held by {self.holder}; a record that replaces or "
            "relates to it names it in relations (by record or identifier)"
        )


def duplicate(
    identifiers: Iterable[str], related: frozenset[str], key: RecordKey, holders: Mapping[str, Iterable[RecordKey]]
) -> Duplicate | None:
    """The first of a record's ``identifiers`` another current record of the same participant and kind
    holds, unless the record names that record or identifier in its relations (``related``)."""
    for identifier in identifiers:
        if identifier in related:
            continue
        for holder in sorted(holders.get(identifier, ()), key=str):
            same_owner = (holder.participant, holder.kind) == (key.participant, key.kind)
            if same_owner and holder != key and str(holder) not in related:
                return Duplicate(identifier, holder)
    return None


def _duplicate(decision: Decision, key: RecordKey, held: Mapping[str, Iterable[RecordKey]]) -> Duplicate | None:
    identifiers = decision.index.identifiers if decision.index is not None else ()
    return duplicate(identifiers, decision.related, key, held)


def _hold(held: dict[str, set[RecordKey]], key: RecordKey, decision: Decision) -> None:
    """Keep the batch's later decisions aware of the identifiers an earlier one took or gave up."""
    for keys in held.values():
        keys.discard(key)
    if decision.action == "upsert" and decision.index is not None:
        for identifier in decision.index.identifiers:
            held.setdefault(identifier, set()).add(key)
