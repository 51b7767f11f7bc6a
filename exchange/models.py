"""Domain objects shared by the gateway, the workers and the storage adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from exchange.identifiers import KINDS as KINDS
from exchange.identifiers import Serialization, participant_of_kid, record_key
from exchange.validation import IndexFields
from exchange.visibility import PUBLIC, Viewer

ParticipantType = Literal[
    "member_state",
    "observer_state",
    "regional_organization",
    "intergovernmental_organization",
    "un_entity",
    "other_partner",
    "secretariat",
]
PARTICIPANT_TYPES: tuple[str, ...] = ParticipantType.__args__  # type: ignore[attr-defined]
STATE_TYPES = frozenset({"member_state", "observer_state"})
Role = Literal["participant", "subscriber", "auditor", "editor", "admin"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
SubmissionStatus = Literal["received", "accepted", "rejected", "pending_review", "returned"]
Action = Literal["upsert", "withdraw"]
ReviewAction = Literal["approve", "return"]


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    name: str
    type: str
    jurisdictions: tuple[str, ...]
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "jurisdictions": list(self.jurisdictions),
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    participant: str | None
    role: str
    label: str | None
    created_at: str
    revoked_at: str | None = None
    #: RFC 3339 UTC; after it the token is refused like a revoked one. None: it does not expire.
    expires_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "participant": self.participant,
            "role": self.role,
            "label": self.label,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class QueuedSubmission:
    """What travels through the queue: the exact JWS bytes and a little metadata. Never pickled."""

    participant: str
    submission_id: str
    kind: str
    received_at: str
    jws_sha256: str
    serialization: Serialization
    body: bytes

    @property
    def routing_key(self) -> str:
        return f"submission.{self.kind}.{self.participant}"


@dataclass(frozen=True, slots=True)
class RecordKey:
    participant: str
    kind: str
    record_id: str

    def __str__(self) -> str:
        return record_key(self.participant, self.kind, self.record_id)


@dataclass(frozen=True, slots=True)
class Review:
    """An editor's decision on a submission held for review, as its signed payload names it."""

    action: ReviewAction
    participant: str  # of the reviewed submission
    submission_id: str
    jws_sha256: str
    comments: str | None = None
    #: approve: the reviewed submission judged again (it becomes a version, as if accepted now)
    decision: Decision | None = None

    @property
    def reviewed(self) -> tuple[str, str]:
        return (self.participant, self.submission_id)


@dataclass(frozen=True, slots=True)
class Endorsement:
    """A participant's own signature on a version of its record (entered on its behalf by an editor)."""

    version: int
    jws_sha256: str  # of the JWS the version was published from


@dataclass(frozen=True, slots=True)
class Decision:
    """A worker's verdict on one submission, before the sequencer gives it a place."""

    submission: QueuedSubmission
    kid: str
    payload_sha256: str
    errors: tuple[dict[str, str], ...] = ()
    record: RecordKey | None = None
    action: Action = "upsert"
    schema: str | None = None
    content: bytes | None = None  # the record as compact JSON; None for a withdrawal
    base_version: int | None = None
    index: IndexFields | None = None
    #: SHA-256 (hex) of the RFC 8785 form of ``{"schema", "record"}``; None for a withdrawal, or when the
    #: record has no canonical form (it is then always a new version)
    content_sha256: str | None = None
    #: the record keys and identifier keys the record names in its relations (it may share their identifiers)
    related: frozenset[str] = frozenset()
    #: held for an editor's review (settings.review): if accepted, it waits as ``pending_review``
    held: bool = False
    #: an editor's review decision (the submission is then an approve or return, not a record change)
    review: Review | None = None
    #: an endorsement of ``record``'s version (not a record change either)
    endorse: Endorsement | None = None
    #: who may see the version (:mod:`exchange.visibility`); ``readers``: the effective set of a restricted one
    visibility: str = "public"
    readers: tuple[str, ...] = ()

    @property
    def applied(self) -> Decision:
        """The decision whose record change applies: an approval's reviewed submission, else this one."""
        return self.review.decision if self.review is not None and self.review.decision is not None else self


@dataclass(frozen=True, slots=True)
class Reindexed:
    """A current record version's search index and content digest, computed again from its content."""

    key: RecordKey
    version: int
    index: IndexFields
    content_sha256: str | None


@dataclass(slots=True)
class SubmissionState:
    """Where a submission stands; the status endpoint renders it."""

    participant: str
    submission_id: str
    jws_sha256: str
    received_at: str
    status: SubmissionStatus
    kind: str | None = None
    kid: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    record: str | None = None
    version: int | None = None
    seq: int | None = None
    log_index: int | None = None
    decided_at: str | None = None
    payload_sha256: str | None = None
    #: accepted without a new version: the record equals its current version, named by ``version``/``seq``
    unchanged: bool = False
    #: review: for a reviewed submission, the editor's decision on it (action, comments, by, submission_id,
    #: log_index, decided_at); for an editor's decision, what it decided (action, participant, submission_id)
    review: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "submission_id": self.submission_id,
            "participant": self.participant,
            "status": self.status,
            "received_at": self.received_at,
            "jws_sha256": self.jws_sha256,
        }
        if self.kind:
            body["kind"] = self.kind
        if self.kid:
            body["kid"] = self.kid
        if self.status != "received":
            body["links"] = {"receipt": f"/v1/submissions/{self.participant}/{self.submission_id}/receipt"}
        if self.status == "accepted":
            body.update(
                record=self.record,
                version=self.version,
                seq=self.seq,
                log_index=self.log_index,
                decided_at=self.decided_at,
            )
            if self.unchanged:
                body["unchanged"] = True
        elif self.status == "rejected":
            body.update(errors=self.errors, log_index=self.log_index, decided_at=self.decided_at)
        elif self.status in ("pending_review", "returned"):
            body.update(log_index=self.log_index, decided_at=self.decided_at)
        if self.review is not None:
            body["review"] = self.review
        return body


@dataclass(frozen=True, slots=True)
class RecordVersion:
    """One stored version of a record, with its provenance."""

    key: RecordKey
    version: int
    action: Action
    schema: str | None
    content: Any
    submission_id: str
    kid: str
    jws_sha256: str
    received_at: str
    accepted_at: str
    log_index: int
    seq: int
    #: published after an editor's review: {by, submission_id, log_index, decided_at, comments?}
    review: dict[str, Any] | None = None
    #: the owner's endorsements of a version an editor entered on its behalf: {by, submission_id, log_index, at}
    endorsements: tuple[dict[str, Any], ...] = ()
    #: who may see it (:mod:`exchange.visibility`): public, participants or restricted to ``readers``
    visibility: str = "public"
    readers: tuple[str, ...] = ()

    @property
    def submitter(self) -> str:
        """The participant whose key signed it: the record's own, or an editor's entry on its behalf."""
        return participant_of_kid(self.kid)

    def provenance(self) -> dict[str, Any]:
        base = f"/v1/submissions/{self.submitter}/{self.submission_id}"
        found: dict[str, Any] = {
            "submission_id": self.submission_id,
            "kid": self.kid,
            "jws_sha256": self.jws_sha256,
            "received_at": self.received_at,
            "accepted_at": self.accepted_at,
            "log_index": self.log_index,
            "seq": self.seq,
            "jws": f"{base}/jws",
            "receipt": f"{base}/receipt",
        }
        if self.submitter != self.key.participant:
            found["entered_by"], found["on_behalf_of"] = self.submitter, self.key.participant
        if self.review is not None:
            found["review"] = self.review
        if self.endorsements:
            found["endorsements"] = list(self.endorsements)
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "participant": self.key.participant,
            "kind": self.key.kind,
            "record_id": self.key.record_id,
            "version": self.version,
            "action": self.action,
            "schema": self.schema,
            "content": self.content,
            "visibility": self.visibility,
            **({"readers": list(self.readers)} if self.visibility == "restricted" else {}),
            "provenance": self.provenance(),
        }


@dataclass(frozen=True, slots=True)
class RecordQuery:
    kind: str | None = None
    participant: str | None = None
    jurisdiction: str | None = None
    region: str | None = None
    tag: str | None = None
    status: str | None = None
    q: str | None = None
    instrument: str | None = None
    article: str | None = None  # with instrument: records implementing that article
    date_from: str | None = None
    date_to: str | None = None
    after: tuple[str, str, str] | None = None  # cursor: the last (participant, kind, record_id) seen
    limit: int = 50
    #: who is asking: only the records whose current version they may see (aggregates ask as the public)
    viewer: Viewer = PUBLIC


@dataclass(frozen=True, slots=True)
class RecordCounts:
    """How many current records match a query, in all and by facet (value → count).

    ``jurisdictions`` counts every country a record names (a case's countries involved too), ``regions``
    their UN M49 areas, ``tags`` every subject term, so the counts of a facet may add up to more than
    ``total``.
    """

    total: int
    kinds: dict[str, int]
    statuses: dict[str, int]
    jurisdictions: dict[str, int]
    regions: dict[str, int]
    tags: dict[str, int]


#: The facets of :class:`RecordCounts` kept in the record_terms index, by their one-letter facet code.
TERM_FACETS = {"j": "jurisdictions", "r": "regions", "t": "tags"}


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint of the transparency log, as kept by the repository."""

    size: int
    root: bytes
    note: str
    signed_at: str


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Decided submissions in log order, for auditors."""

    participant: str | None = None
    kid: str | None = None
    outcome: str | None = None
    received_from: str | None = None
    received_to: str | None = None
    after: int = -1  # the last log index seen
    limit: int = 100


@dataclass(frozen=True, slots=True)
class AuditedSubmission:
    """A decided submission with its stored bytes."""

    state: SubmissionState
    body: bytes
    serialization: str


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change feed: an accepted record version, in ``seq`` order."""

    seq: int
    action: Action
    key: RecordKey
    version: int
    log_index: int
    submission_id: str
    kid: str
    received_at: str
    jurisdiction: str | None = None
    #: the record's JSON text as stored (None unless asked for): answers embed it as it is, unparsed
    content_json: str | None = None
    jws: str | None = None
    #: with the content: when the version was accepted, and the review that published it (if any)
    accepted_at: str | None = None
    review: dict[str, Any] | None = None
    visibility: str = "public"
    readers: tuple[str, ...] = ()

    @property
    def content(self) -> Any:
        """The record, parsed (None unless its content was asked for)."""
        return orjson.loads(self.content_json) if self.content_json is not None else None

    def as_dict(self, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        body: dict[str, Any] = {
            "seq": self.seq,
            "action": self.action,
            "record": str(self.key),
            "version": self.version,
            "log_index": self.log_index,
            "submission_id": self.submission_id,
            "kid": self.kid,
            "received_at": self.received_at,
        }
        if self.visibility != "public":
            body["visibility"] = self.visibility
            if self.visibility == "restricted":
                body["readers"] = list(self.readers)
        if "record" in include:
            # the stored text, written into the answer as it is (orjson): a page of 1,000 changes does not
            # parse and write 1,000 records again
            body["content"] = orjson.Fragment(self.content_json) if self.content_json is not None else None
            body["accepted_at"] = self.accepted_at
            if self.review is not None:
                body["review"] = self.review
        if "jws" in include:
            body["jws"] = self.jws
        return body

    def seen_by(self, viewer: Viewer, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The change as ``viewer`` may see it: whole, or a placeholder holding only its seq (so that a
        follower still sees the feed dense, and learns nothing else of it)."""
        if viewer.may_see(self.visibility, self.readers):
            return self.as_dict(include)
        return {"seq": self.seq, "hidden": True}


@dataclass(frozen=True, slots=True)
class ChangeQuery:
    """A page of the change feed: ``since`` is exclusive; filters never change the order."""

    since: int = 0
    limit: int = 100
    kinds: tuple[str, ...] = ()
    participants: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    include_content: bool = False
    include_jws: bool = False


SubscriptionStatus = Literal["pending", "active", "paused", "gone"]


@dataclass(slots=True)
class Subscription:
    """A webhook subscription: where to deliver which changes, and how far delivery has come."""

    id: str
    owner: str
    url: str
    kinds: tuple[str, ...]
    participants: tuple[str, ...]
    jurisdictions: tuple[str, ...]
    secret: str
    status: SubscriptionStatus
    cursor: int
    created_at: str
    previous_secret: str | None = None
    previous_secret_until: str | None = None
    failing_since: str | None = None
    attempts: int = 0
    next_attempt_at: str | None = None
    last_error: str | None = None
    lease_owner: str | None = None
    lease_until: str | None = None

    def public(self) -> dict[str, Any]:
        """What the API shows (never the secret)."""
        return {
            "id": self.id,
            "url": self.url,
            "filter": {
                "kinds": list(self.kinds),
                "participants": list(self.participants),
                "jurisdictions": list(self.jurisdictions),
            },
            "status": self.status,
            "cursor": self.cursor,
            "created_at": self.created_at,
            "failing_since": self.failing_since,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One try at delivering one change to one subscription, for the delivery log."""

    subscription_id: str
    seq: int
    webhook_id: str
    attempt: int
    at: str
    status_code: int | None
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "webhook_id": self.webhook_id,
            "attempt": self.attempt,
            "at": self.at,
            "status_code": self.status_code,
            "latency_ms": round(self.latency_ms, 1),
            "error": self.error,
        }
