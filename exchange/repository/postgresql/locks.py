"""The connection type the adapter's modules take, and its transaction-scoped advisory locks.

Each lock has two keys: a constant naming what it guards, and the hash of the current schema, so
deployments sharing one database in separate schemas never contend.
"""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

#: First keys of the advisory locks (ASCII "EXSQ" and "EXMG").
SEQUENCER_LOCK = 0x45585351
MIGRATION_LOCK = 0x45584D47
_LOCK = "SELECT pg_advisory_xact_lock($1::int4, hashtext(coalesce(current_schema(), '')))"


async def lock(conn: Connection, key: int) -> None:
    """Take the advisory lock ``key`` until the caller's transaction ends."""
    await conn.execute(_LOCK, key)
