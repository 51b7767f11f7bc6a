"""The repository port: everything the core asks of durable storage, as the small protocols its consumers use.

:class:`Repository` is their union, which each adapter implements; a consumer asks for the smallest
part it needs (the intake :class:`Records`, the worker :class:`Submissions`, the key directory
:class:`Registry` …), so what it can touch is plain from its signature. Adapters (``sqlite``,
``postgresql``) implement it and pass the one contract suite in ``tests/contract/test_repository.py``
(and ``tests/contract/test_unavailable.py`` for every method while the database is down). Storage
exceptions never cross this boundary: adapters raise :class:`exchange.errors.Unavailable` when the
database cannot be reached and ``ExchangeError`` for domain failures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from exchange.mirror.step import MirrorStep
from exchange.models import (
    AuditedSubmission,
    AuditQuery,
    Change,
    ChangeQuery,
    Decision,
    DeliveryAttempt,
    Participant,
    QueuedSubmission,
    RecordCounts,
    RecordKey,
    RecordQuery,
    RecordVersion,
    Reindexed,
    StoredCheckpoint,
    SubmissionState,
    Subscription,
    TokenInfo,
)
from exchange.publickeys import PublicKey


class Lifecycle(Protocol):
    """Opening, closing, and whether the database answers."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None:
        """Raise :class:`exchange.errors.Unavailable` unless the database answers."""


class Registry(Protocol):
    """Participants and their keys (each key event is logged)."""

    async def add_participant(self, participant: Participant) -> None: ...
    async def get_participant(self, participant_id: str) -> Participant | None: ...
    async def list_participants(self) -> list[Participant]: ...
    async def add_key(self, key: PublicKey) -> int:
        """Register a key and log the event; return its log index."""

    async def revoke_key(self, kid: str, reason: str, at: str) -> tuple[PublicKey, int]: ...
    async def get_key(self, kid: str) -> PublicKey | None: ...
    async def list_keys(self, participant: str | None = None) -> list[PublicKey]: ...


class Tokens(Protocol):
    """API tokens, stored by hash."""

    async def add_token(self, token_hash: str, info: TokenInfo) -> None: ...
    async def find_token(self, token_hash: str) -> TokenInfo | None: ...
    async def list_tokens(self) -> list[TokenInfo]: ...
    async def revoke_token(self, token_id: str, at: str) -> bool: ...


class Submissions(Protocol):
    """Receipts and decisions: a submission from its arrival to its outcome."""

    async def receive(self, submissions: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
        """Record receipts; for each, None when it is new, else the state already stored."""

    async def decide(self, decisions: Sequence[Decision]) -> list[SubmissionState]:
        """Sequence and commit verdicts in one transaction; already decided ones are left alone."""

    async def get_submission(self, participant: str, submission_id: str) -> SubmissionState | None: ...
    async def get_submissions(self, idents: Sequence[tuple[str, str]]) -> dict[tuple[str, str], SubmissionState]:
        """The stored states of the (participant, submission_id) pairs that exist, read at once."""

    async def get_submission_body(self, participant: str, submission_id: str) -> tuple[bytes, str] | None:
        """The stored JWS bytes, unchanged, and their serialization."""


class Log(Protocol):
    """The transparency log: entries, stored subtree hashes and signed checkpoints."""

    async def log_size(self) -> int: ...
    async def log_entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """Entries with ``start <= index < end`` as (index, exact canonical bytes)."""

    async def log_root(self, size: int) -> bytes:
        """The RFC 9162 root hash of the first ``size`` entries, from stored subtree hashes."""

    async def log_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored subtree hashes by (level, index), read in one query; absent keys are left out."""

    async def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Keep a signed checkpoint; one already kept for that size is left as it is."""

    async def latest_checkpoint(self) -> StoredCheckpoint | None: ...
    async def list_checkpoints(self, after: int = 0, limit: int = 1000) -> list[StoredCheckpoint]:
        """Checkpoints with ``size > after``, smallest first."""


class Feeds(Protocol):
    """The change feed."""

    async def last_seq(self) -> int:
        """The highest committed change ``seq`` (0 when there is none)."""

    async def list_changes(self, query: ChangeQuery) -> list[Change]:
        """Changes with ``seq > query.since`` matching the filters, in ``seq`` order."""


class Subscriptions(Protocol):
    """Webhook subscriptions and their delivery log."""

    async def add_subscription(self, subscription: Subscription) -> None: ...
    async def get_subscription(self, subscription_id: str) -> Subscription | None: ...
    async def list_subscriptions(self, owner: str | None = None) -> list[Subscription]: ...
    async def update_subscription(
        self, subscription_id: str, fields: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> bool:
        """Set ``fields`` (names of :class:`Subscription` fields) if every ``expect`` field still has its
        value (compare-and-set, so a worker never undoes a concurrent pause or replay); True if it did."""

    async def delete_subscription(self, subscription_id: str) -> bool: ...
    async def claim_subscriptions(self, owner: str, until: str, now: str, limit: int) -> list[Subscription]:
        """Lease up to ``limit`` pending or active subscriptions whose lease is free, expired or ``owner``'s."""

    async def add_delivery(
        self, attempt: DeliveryAttempt, update: Mapping[str, Any] | None = None, expect: Mapping[str, Any] | None = None
    ) -> bool:
        """Record a delivery attempt and, in the same transaction, set ``update`` on its subscription as
        :meth:`update_subscription` does (compare-and-set on ``expect``); True unless that update failed."""

    async def list_deliveries(self, subscription_id: str, limit: int = 100) -> list[DeliveryAttempt]:
        """The newest delivery attempts first."""


class Audit(Protocol):
    """Listings of everything decided, for exports and audits."""

    async def audit_submissions(self, query: AuditQuery) -> list[AuditedSubmission]:
        """Decided submissions with ``log_index > query.after`` matching the filters, in log order."""

    async def all_versions(self, after_seq: int = 0, limit: int = 1000) -> list[RecordVersion]:
        """Every record version with ``seq > after_seq``, in seq order (for exports and audits)."""


class Records(Protocol):
    """Record versions: the current one, history, and queries."""

    async def current_version(self, key: RecordKey) -> int | None:
        """The current version of a record (withdrawals count), None when it never existed."""

    async def get_record(self, key: RecordKey) -> RecordVersion | None:
        """The latest version, which may be a withdrawal."""

    async def reindex(self, entries: Sequence[Reindexed]) -> int:
        """Rewrite the search terms, text and content digest of current records (after an upgrade that
        indexes more); an entry whose record has another version by now is left alone. Returns how many
        records were rewritten."""

    async def identifier_holders(self, identifiers: Sequence[str]) -> dict[str, list[RecordKey]]:
        """For each document identifier (:func:`exchange.identifiers.identifier_key`), the current records
        (not withdrawn) whose current version holds it; identifiers no record holds are left out."""

    async def list_records(self, query: RecordQuery) -> list[RecordVersion]: ...
    async def count_records(self, query: RecordQuery) -> RecordCounts:
        """Counts of the current records matching ``query`` (its cursor and limit ignored), by facet."""

    async def list_versions(self, key: RecordKey) -> list[RecordVersion]: ...
    async def get_version(self, key: RecordKey, version: int) -> RecordVersion | None: ...


class Mirrors(Protocol):
    """A mirror node's writes."""

    async def mirror(self, step: MirrorStep) -> None:
        """Store one verified step of the upstream (:class:`~exchange.mirror.step.MirrorStep`) in one
        transaction; raises :class:`~exchange.mirror.step.RootMismatch`, storing nothing, when its entries
        do not make the root its checkpoint signs."""


class Repository(
    Lifecycle, Registry, Tokens, Submissions, Log, Feeds, Subscriptions, Audit, Records, Mirrors, Protocol
):
    """Durable state: registry, submissions, record versions, change feed and log entries (every part)."""


#: Every part of the port, in the order above (the contract suite enumerates their methods from these).
PARTS: tuple[type, ...] = (Lifecycle, Registry, Tokens, Submissions, Log, Feeds, Subscriptions, Audit, Records)
