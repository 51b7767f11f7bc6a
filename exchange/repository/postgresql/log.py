"""The transparency log's tables: entries, stored Merkle nodes and signed checkpoints.

Every append (key events and decisions) runs in a transaction that first takes the sequencer's lock:
appends are serialised and commit in log order, so no reader ever sees index N+1 while N is invisible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from exchange.models import StoredCheckpoint
from exchange.repository.common import checkpoint_of
from exchange.repository.postgresql.locks import SEQUENCER_LOCK, Connection, lock
from exchange.repository.postgresql.pool import PostgresPool
from exchange.repository.postgresql.rows import as_columns
from exchange.sequencer import LogEntry
from exchange.transparency.merkle import EMPTY_ROOT, NodeKey, nodes_for_append, root_from, root_nodes


async def lock_sequencer(conn: Connection) -> None:
    """Take the single sequencer's lock until the caller's transaction ends."""
    await lock(conn, SEQUENCER_LOCK)


async def log_size(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(idx) + 1, 0) FROM log_entries"))


async def fetch_nodes(conn: Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    """Stored subtree hashes for ``keys``, in one query (missing keys are left out)."""
    if not keys:
        return {}
    levels, indexes = as_columns(keys, 2)
    rows = await conn.fetch(
        "SELECT n.level, n.idx, n.hash FROM log_nodes n "
        "JOIN unnest($1::int2[], $2::int8[]) AS k(level, idx) ON n.level = k.level AND n.idx = k.idx",
        levels,
        indexes,
    )
    return {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}


async def append_log(conn: Connection, entries: Sequence[LogEntry]) -> None:
    """Store log entries and the Merkle nodes they complete, in the caller's (locked) transaction.

    ``nodes_for_append`` only asks for nodes on the old tree's right frontier, which are exactly the
    nodes of the old root (``root_nodes(start)``): they are read in one query before it runs.
    """
    if not entries:
        return
    start = entries[0].index
    frontier = await fetch_nodes(conn, root_nodes(start))

    def get(keys: Iterable[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {k: frontier[k] for k in keys if k in frontier}

    nodes = nodes_for_append(start, [e.leaf_hash for e in entries], get)
    await conn.copy_records_to_table(
        "log_entries", records=[(e.index, e.entry, e.leaf_hash) for e in entries], columns=("idx", "entry", "leaf_hash")
    )
    await conn.copy_records_to_table("log_nodes", records=nodes, columns=("level", "idx", "hash"))


class LogStore(PostgresPool):
    """Reading the log, and its checkpoints."""

    async def log_size(self) -> int:
        async with self._connection() as conn:
            return await log_size(conn)

    async def log_entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT idx, entry FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx", start, end
            )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    async def log_root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        async with self._connection() as conn:
            nodes = await fetch_nodes(conn, root_nodes(size))
        return root_from(size, nodes)

    async def log_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        async with self._connection() as conn:
            return await fetch_nodes(conn, keys)

    async def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (size) DO NOTHING",
                checkpoint.size,
                checkpoint.root,
                checkpoint.note,
                checkpoint.signed_at,
            )

    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT size, root, note, signed_at FROM log_checkpoints ORDER BY size DESC LIMIT 1"
            )
        return checkpoint_of(row) if row else None

    async def list_checkpoints(self, after: int = 0, limit: int = 1000) -> list[StoredCheckpoint]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT size, root, note, signed_at FROM log_checkpoints WHERE size > $1 ORDER BY size LIMIT $2",
                after,
                limit,
            )
        return [checkpoint_of(r) for r in rows]
