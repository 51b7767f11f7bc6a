"""The embedded repository: SQLite in WAL mode, one writer per process.

Semantics are those of the scale-out adapter (:mod:`exchange.repository.postgresql`); only the dialect
differs, and the shared contract suite (``tests/contract/test_repository.py``) holds both to it. The
adapter is one class put together from a part per domain, each over the same database object:

* :mod:`.store`: opening (with :mod:`.schema`), the database object, failures as ``Unavailable``;
* :mod:`.registry`: participants, keys, tokens;
* :mod:`.submissions` (with :mod:`.decisions`): receiving, deciding, audit listings;
* :mod:`.log`: the transparency log and its checkpoints;
* :mod:`.feeds`: the change feed and webhook subscriptions;
* :mod:`.records`: record reads and queries;
* :mod:`.mirror`: a mirror node's copy of an upstream repository.
"""

from __future__ import annotations

from exchange.repository.sqlite.feeds import FeedStore
from exchange.repository.sqlite.log import LogStore
from exchange.repository.sqlite.mirror import MirrorStore
from exchange.repository.sqlite.records import RecordStore
from exchange.repository.sqlite.registry import RegistryStore
from exchange.repository.sqlite.submissions import SubmissionStore


class SqliteRepository(RegistryStore, SubmissionStore, LogStore, FeedStore, RecordStore, MirrorStore):
    """The :class:`exchange.repository.Repository` port on an SQLite file."""


__all__ = ["SqliteRepository"]
