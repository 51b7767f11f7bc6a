"""One SQLite database file shared by the embedded repository and queue.

All writes of a process go through one thread that owns the only write connection (so they never
contend inside the process); reads use their own connections on a small pool. WAL mode lets reads run
beside the writer. Writers in other processes on the same file (the worker processes of
``exchange serve``) take turns: a writer that finds another one's transaction open polls for the
lock every half millisecond (for at most :data:`BUSY_TIMEOUT` seconds). SQLite's own busy handler
sleeps in growing steps of up to 100 ms instead, long after the other transaction has ended, and
with two processes writing in turn that left both idle for much of the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from exchange.batching import Batcher
from exchange.errors import Unavailable

log = logging.getLogger("exchange.sqlite")
T = TypeVar("T")

#: Longest wait (seconds) for another process's write transaction to end before giving up.
BUSY_TIMEOUT = 30.0
#: Pause (seconds) between two attempts to take the write lock while another process holds it.
BUSY_POLL = 0.0005


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _execute_when_free(conn: sqlite3.Connection, sql: str) -> None:
    """Run ``sql`` (BEGIN IMMEDIATE, COMMIT), retrying at once while another process holds the lock."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute(sql)
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(BUSY_POLL)


class _Failed:
    """One write of a shared transaction raised; only its caller sees the error."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class SqliteDatabase:
    def __init__(self, path: Path, *, synchronous: str = "FULL", readers: int = 2) -> None:
        self.path = path
        self._synchronous = synchronous
        self._readers = readers
        self._writer: ThreadPoolExecutor | None = None
        self._reader_pool: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._users = 0
        self._lock = threading.Lock()
        self._committer: Batcher[Callable[[sqlite3.Connection], Any], Any] | None = None

    def _connect(self, *, busy_timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA busy_timeout=0")  # the writer polls for the lock itself (_execute_when_free)
        return conn

    async def open(self, component: str, migrations: list[str]) -> None:
        """Open (or share) the database and apply ``component``'s migrations not applied yet."""
        with self._lock:
            self._users += 1
            first = self._writer is None
            if first:
                _create_private(self.path)
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
                self._reader_pool = ThreadPoolExecutor(self._readers, thread_name_prefix="sqlite-reader")
        if first:
            self._write_conn = await self._in_writer(self._connect_writer)
        await self.write(lambda conn: _migrate(conn, component, migrations))

    async def close(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0 or self._writer is None:
                return
            writer, readers = self._writer, self._reader_pool
            self._writer = self._reader_pool = None
        if self._write_conn is not None:
            conn = self._write_conn
            await asyncio.get_running_loop().run_in_executor(writer, conn.close)
            self._write_conn = None
        writer.shutdown(wait=True)
        if readers is not None:
            readers.shutdown(wait=True)
        for conn in self._read_conns:
            conn.close()
        self._read_conns.clear()

    async def _in_writer(self, fn: Callable[[], T]) -> T:
        if self._writer is None:
            raise Unavailable("the database is closed")
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the writer thread inside a transaction; roll its changes back if it raises.

        Writes that arrive while the writer is busy share the next transaction (group commit): each
        runs in its own savepoint, so one failing never undoes another, and every caller returns only
        once the shared COMMIT is durable.
        """
        if self._committer is None:
            self._committer = Batcher(self._commit_batch)
        outcome = await self._committer.submit(fn)
        if isinstance(outcome, _Failed):
            raise outcome.error
        return cast(T, outcome)

    async def _commit_batch(self, fns: list[Callable[[sqlite3.Connection], Any]]) -> list[Any]:
        def run() -> list[Any]:
            conn = self._write_conn
            if conn is None:
                raise Unavailable("the database is closed")
            try:
                _execute_when_free(conn, "BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise Unavailable(f"the database is busy: {exc}") from None
            results: list[Any] = []
            try:
                for fn in fns:
                    conn.execute("SAVEPOINT write")
                    try:
                        results.append(fn(conn))
                    except Exception as exc:
                        conn.execute("ROLLBACK TO write")
                        results.append(_Failed(exc))
                    conn.execute("RELEASE write")
                _execute_when_free(conn, "COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return results

        try:
            return await self._in_writer(run)
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from None

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a reader connection inside one read transaction (a consistent snapshot)."""

        def run() -> T:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._connect()
                conn.execute("PRAGMA query_only=ON")
                self._local.conn = conn
                with self._lock:
                    self._read_conns.append(conn)
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        if self._reader_pool is None:
            raise Unavailable("the database is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader_pool, run)
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from None


def _create_private(path: Path) -> None:
    """Create the data directory (0700) and the database file (0600) before SQLite does.

    SQLite gives its -wal and -shm files the database file's mode, so none of them is readable by
    other local users (the database holds tokens' hashes, subscriptions and every submission).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _unavailable(exc: sqlite3.OperationalError) -> Unavailable:
    """The driver's message goes to the log, never into a problem a client reads."""
    log.warning("database error", extra={"reason": str(exc)})
    return Unavailable("the database is unavailable")


def _migrate(conn: sqlite3.Connection, component: str, migrations: list[str]) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (component, version))"
    )
    row = conn.execute("SELECT max(version) FROM schema_migrations WHERE component = ?", (component,)).fetchone()
    applied = row[0] or 0
    if applied > len(migrations):
        raise RuntimeError(
            f"the database holds {component} schema version {applied}, newer than this program "
            f"knows ({len(migrations)}); upgrade exchange"
        )
    for version, script in enumerate(migrations, start=1):
        if version <= applied:
            continue
        for statement in script.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (component, version))
