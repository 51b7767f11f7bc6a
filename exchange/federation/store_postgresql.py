"""The federation store in the repository's PostgreSQL database (see :mod:`exchange.federation.store`).

It keeps a small pool of its own on the same database (and schema, through the URL), and creates its
tables once under a transaction-scoped advisory lock. :meth:`advance` is one conditional statement:
an ``UPDATE … WHERE`` the stored size and root are the ones checked, or an ``INSERT … ON CONFLICT DO
NOTHING`` for a log never witnessed before, so two concurrent requests cannot both succeed from the
same state.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg

from exchange.errors import Unavailable
from exchange.federation.store import WitnessedCheckpoint
from exchange.repository.common import redact

#: First key of the advisory lock taken while creating the tables (ASCII "EXFD").
_SCHEMA_LOCK = 0x45584644
_SCHEMA = """
CREATE TABLE IF NOT EXISTS witnessed_logs (
    origin text PRIMARY KEY,
    size bigint NOT NULL,
    root bytea NOT NULL,
    note text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS witness_progress (
    witness text PRIMARY KEY,
    size bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_cosignatures (
    size bigint NOT NULL,
    witness text NOT NULL,
    line text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (size, witness)
)
"""
_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
)

_OPEN_FAILURES: tuple[type[BaseException], ...] = (*_TRANSIENT, asyncpg.PostgresError)


class PostgresFederationStore:
    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(self._url, min_size=1, max_size=4, timeout=10)
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1::int4, hashtext(coalesce(current_schema(), '')))", _SCHEMA_LOCK
                )
                await conn.execute(_SCHEMA)
        except _OPEN_FAILURES as exc:
            where = redact(self._url)
            raise Unavailable(f"cannot open the federation tables at {where}: {type(exc).__name__}") from None
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy[asyncpg.Record]]:
        if self._pool is None:
            raise Unavailable("the federation store is not open")
        try:
            async with self._pool.acquire(timeout=30) as conn:
                yield conn
        except _TRANSIENT as exc:
            raise Unavailable(f"PostgreSQL at {redact(self._url)} is unavailable: {type(exc).__name__}") from None

    async def witnessed(self, origin: str) -> WitnessedCheckpoint | None:
        async with self._connection() as conn:
            row = await conn.fetchrow("SELECT size, root FROM witnessed_logs WHERE origin = $1", origin)
        return None if row is None else WitnessedCheckpoint(int(row["size"]), bytes(row["root"]))

    async def advance(
        self, origin: str, expected: WitnessedCheckpoint | None, new: WitnessedCheckpoint, note: str
    ) -> WitnessedCheckpoint | None:
        async with self._connection() as conn:
            if expected is None:
                done = await conn.fetchval(
                    "INSERT INTO witnessed_logs (origin, size, root, note) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (origin) DO NOTHING RETURNING 1",
                    origin,
                    new.size,
                    new.root,
                    note,
                )
            else:
                done = await conn.fetchval(
                    "UPDATE witnessed_logs SET size = $4, root = $5, note = $6, updated_at = now() "
                    "WHERE origin = $1 AND size = $2 AND root = $3 RETURNING 1",
                    origin,
                    expected.size,
                    expected.root,
                    new.size,
                    new.root,
                    note,
                )
        if done:
            return None
        current = await self.witnessed(origin)
        if current == expected:  # pragma: no cover - only if the row changed and changed back
            raise Unavailable("the witnessed checkpoint changed during the update; try again")
        return current

    async def cosigned_size(self, witness: str) -> int | None:
        async with self._connection() as conn:
            size = await conn.fetchval("SELECT size FROM witness_progress WHERE witness = $1", witness)
        return None if size is None else int(size)

    async def set_cosigned_size(self, witness: str, size: int) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO witness_progress (witness, size) VALUES ($1, $2) "
                "ON CONFLICT (witness) DO UPDATE SET size = excluded.size",
                witness,
                size,
            )

    async def add_cosignature(self, witness: str, size: int, line: str) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO witness_cosignatures (size, witness, line) VALUES ($1, $2, $3) "
                "ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, received_at = now()",
                size,
                witness,
                line,
            )
            await conn.execute(
                "INSERT INTO witness_progress (witness, size) VALUES ($1, $2) "
                "ON CONFLICT (witness) DO UPDATE SET size = excluded.size",
                witness,
                size,
            )

    async def cosignatures(self, sizes: Sequence[int]) -> dict[int, list[str]]:
        if not sizes:
            return {}
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT size, line FROM witness_cosignatures WHERE size = ANY($1::bigint[]) ORDER BY size, witness",
                sorted(set(sizes)),
            )
        found: dict[int, list[str]] = {}
        for row in rows:
            found.setdefault(int(row["size"]), []).append(str(row["line"]))
        return found
