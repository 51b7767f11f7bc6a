"""The transparency log: entries, the Merkle nodes they complete, and signed checkpoints.

:func:`append_log` runs inside the caller's write transaction (a key event, a batch of decisions), so
an entry and what it records commit together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from exchange.models import StoredCheckpoint
from exchange.repository.common import checkpoint_of
from exchange.repository.sqlite.store import SqliteStore
from exchange.sequencer import LogEntry
from exchange.transparency.merkle import EMPTY_ROOT, nodes_for_append, root_from, root_nodes


def append_log(conn: sqlite3.Connection, entries: Sequence[LogEntry]) -> None:
    """Store log entries and the Merkle nodes they complete, in the caller's transaction."""
    if not entries:
        return
    start = entries[0].index
    conn.executemany(
        "INSERT INTO log_entries (idx, entry, leaf_hash) VALUES (?, ?, ?)",
        [(e.index, e.entry, e.leaf_hash) for e in entries],
    )

    nodes = nodes_for_append(start, [e.leaf_hash for e in entries], lambda keys: _nodes(conn, keys))
    conn.executemany("INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)


def _nodes(conn: sqlite3.Connection, keys: Iterable[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
    """Stored subtree hashes for ``keys`` (one indexed lookup each, in one call)."""
    found: dict[tuple[int, int], bytes] = {}
    for level, idx in keys:
        row = conn.execute("SELECT hash FROM log_nodes WHERE level = ? AND idx = ?", (level, idx)).fetchone()
        if row is not None:
            found[(level, idx)] = bytes(row[0])
    return found


def log_size(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(idx) FROM log_entries").fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


class LogStore(SqliteStore):
    """The transparency log and its checkpoints."""

    async def log_size(self) -> int:
        return await self.db.read(log_size)

    async def log_entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = await self.db.read(
            lambda c: c.execute(
                "SELECT idx, entry FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
            ).fetchall()
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    async def log_root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        return root_from(size, await self.db.read(lambda c: _nodes(c, root_nodes(size))))

    async def log_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return dict(await self.db.read(lambda c: _nodes(c, keys)))

    async def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        await self.db.write(
            lambda c: c.execute(
                "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (size) DO NOTHING",
                (checkpoint.size, checkpoint.root, checkpoint.note, checkpoint.signed_at),
            )
        )

    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT size, root, note, signed_at FROM log_checkpoints ORDER BY size DESC LIMIT 1"
            ).fetchone()
        )
        return checkpoint_of(row) if row else None

    async def list_checkpoints(self, after: int = 0, limit: int = 1000) -> list[StoredCheckpoint]:
        rows = await self.db.read(
            lambda c: c.execute(
                "SELECT size, root, note, signed_at FROM log_checkpoints WHERE size > ? ORDER BY size LIMIT ?",
                (after, limit),
            ).fetchall()
        )
        return [checkpoint_of(r) for r in rows]
