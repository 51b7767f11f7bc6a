"""One verified step of a mirror, as its repository stores it in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange.models import Decision, Participant, RecordKey, StoredCheckpoint, SubmissionState
from exchange.publickeys import PublicKey
from exchange.sequencer import LogEntry, NewVersion


class RootMismatch(Exception):
    """The entries appended do not make the root the upstream's checkpoint signs (nothing was stored)."""


@dataclass(frozen=True, slots=True)
class MirroredKey:
    """A key of the upstream's directory with the log entry that added it."""

    key: PublicKey
    added_at: str
    log_index: int


@dataclass(slots=True)
class MirrorStep:
    """The upstream log's entries up to a checkpoint it signed, then the changes of its feed they cover.

    Stored in one transaction, in this order: the entries (and their Merkle nodes), whose root at
    ``checkpoint.size`` must be ``checkpoint.root`` (:class:`RootMismatch` otherwise), the registry, the
    submissions of the new versions, the versions with their changes and current view, the
    endorsements, the placeholders of changes the mirror may not see, and the checkpoint.
    """

    entries: list[LogEntry]
    checkpoint: StoredCheckpoint
    participants: list[Participant] = field(default_factory=list)
    keys: list[MirroredKey] = field(default_factory=list)
    #: revocations: kid → (revoked_at, reason)
    revoked: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    decided: list[tuple[Decision, SubmissionState]] = field(default_factory=list)
    versions: list[NewVersion] = field(default_factory=list)
    endorsed: list[tuple[RecordKey, int, dict[str, Any]]] = field(default_factory=list)
    #: seqs of changes of the upstream's feed this mirror may not see (served as placeholders)
    hidden: list[int] = field(default_factory=list)
