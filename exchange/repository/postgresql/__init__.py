"""The scale-out repository: PostgreSQL through an asyncpg connection pool.

Semantics follow the embedded adapter (:mod:`exchange.repository.sqlite`) exactly; only the dialect
differs, and the shared contract suite (``tests/contract/test_repository.py``) holds both to it. Every
append to the transparency log (key events and decisions) runs in one transaction that first takes
the sequencer's transaction-scoped advisory lock: appends are serialised and commit in log and seq
order, so no reader can ever see seq N+1 while N is still invisible (DESIGN §8).

The adapter is one class put together from a part per domain, each over the same pool:

* :mod:`.pool`: opening (with :mod:`.migrations`), connections, failures as ``Unavailable``;
* :mod:`.registry`: participants, keys, tokens;
* :mod:`.submissions` (with :mod:`.decisions`): receiving, deciding, audit listings;
* :mod:`.log`: the transparency log and its checkpoints;
* :mod:`.feeds`: the change feed and webhook subscriptions;
* :mod:`.records`: record reads and queries;
* :mod:`.mirror`: a mirror node's copy of an upstream repository.
"""

from __future__ import annotations

from exchange.repository.common import redact
from exchange.repository.postgresql.feeds import FeedStore
from exchange.repository.postgresql.log import LogStore
from exchange.repository.postgresql.migrations import migrate
from exchange.repository.postgresql.mirror import MirrorStore
from exchange.repository.postgresql.records import RecordStore
from exchange.repository.postgresql.registry import RegistryStore
from exchange.repository.postgresql.submissions import SubmissionStore


class PostgresRepository(RegistryStore, SubmissionStore, LogStore, FeedStore, RecordStore, MirrorStore):
    """The :class:`exchange.repository.Repository` port on PostgreSQL."""


__all__ = ["PostgresRepository", "migrate", "redact"]
