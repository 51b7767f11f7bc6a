"""The connection pool every part of the PostgreSQL adapter works through, and what its failures mean.

A failure that means "the database cannot serve us now" (refused or dropped connections, timeouts,
an administrator's shutdown, a serialisation failure) becomes :class:`exchange.errors.Unavailable`,
which callers retry; anything else is a bug or bad data and propagates as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from exchange.errors import Unavailable
from exchange.repository.common import redact
from exchange.repository.postgresql.locks import Connection
from exchange.repository.postgresql.migrations import migrate
from exchange.settings import Settings

_CONNECT_TIMEOUT = 10.0
_ACQUIRE_TIMEOUT = 30.0
_CLOSE_TIMEOUT = 10.0

#: Failures that mean "the database cannot serve us now": the caller should retry later.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.InternalClientError,
)

#: Failures while connecting, where a server error (authentication, unknown database) also means "unavailable".
CONNECT_FAILURES: tuple[type[BaseException], ...] = (*TRANSIENT, asyncpg.PostgresError)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT) and not isinstance(exc, asyncpg.DataError)


class PostgresPool:
    """Opens the pool (applying migrations first), lends connections, turns outages into ``Unavailable``."""

    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url
        self.settings = settings
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None

    @property
    def url(self) -> str:
        """The database URL with its password hidden: safe to log."""
        return redact(self._url)

    def _unavailable(self, exc: BaseException) -> Unavailable:
        return Unavailable(f"PostgreSQL at {self.url} is unavailable: {describe(exc)}")

    async def open(self) -> None:
        if self._pool is not None:
            return
        size = self.settings.database_pool_size
        try:
            pool = await asyncpg.create_pool(self._url, min_size=min(2, size), max_size=size, timeout=_CONNECT_TIMEOUT)
        except CONNECT_FAILURES as exc:
            if isinstance(exc, asyncpg.DataError):
                raise
            raise Unavailable(f"cannot connect to PostgreSQL at {self.url}: {describe(exc)}") from None
        try:
            async with pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn, conn.transaction():
                await migrate(conn)
        except BaseException as exc:
            pool.terminate()
            if is_transient(exc):
                raise self._unavailable(exc) from None
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), _CLOSE_TIMEOUT)
        except TRANSIENT:
            pool.terminate()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        pool = self._pool
        if pool is None:
            raise Unavailable("the PostgreSQL repository is not open")
        try:
            async with pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn:
                yield conn
        except TRANSIENT as exc:
            if isinstance(exc, asyncpg.DataError):
                raise
            raise self._unavailable(exc) from None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")
