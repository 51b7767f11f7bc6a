"""The federation store in the embedded SQLite database (see :mod:`exchange.federation.store`).

Writes go through the database's one writer, in ``BEGIN IMMEDIATE`` transactions, so the read and
the update of :meth:`advance` cannot interleave with another writer's, in this process or another.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from exchange import times
from exchange.federation.store import WitnessedCheckpoint
from exchange.sqlitedb import SqliteDatabase

MIGRATIONS = [
    """
CREATE TABLE witnessed_logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE witness_progress (
    witness TEXT PRIMARY KEY,
    size INTEGER NOT NULL
);
CREATE TABLE witness_cosignatures (
    size INTEGER NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (size, witness)
)
"""
]


def _state(conn: sqlite3.Connection, origin: str) -> WitnessedCheckpoint | None:
    row = conn.execute("SELECT size, root FROM witnessed_logs WHERE origin = ?", (origin,)).fetchone()
    return None if row is None else WitnessedCheckpoint(int(row[0]), bytes(row[1]))


class SqliteFederationStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def open(self) -> None:
        await self.db.open("federation", MIGRATIONS)

    async def close(self) -> None:
        await self.db.close()

    async def witnessed(self, origin: str) -> WitnessedCheckpoint | None:
        return await self.db.read(lambda conn: _state(conn, origin))

    async def advance(
        self, origin: str, expected: WitnessedCheckpoint | None, new: WitnessedCheckpoint, note: str
    ) -> WitnessedCheckpoint | None:
        def run(conn: sqlite3.Connection) -> WitnessedCheckpoint | None:
            current = _state(conn, origin)
            if current != expected:
                return current
            conn.execute(
                "INSERT INTO witnessed_logs (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                "note = excluded.note, updated_at = excluded.updated_at",
                (origin, new.size, new.root, note, times.iso(times.now())),
            )
            return None

        return await self.db.write(run)

    async def cosigned_size(self, witness: str) -> int | None:
        def run(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT size FROM witness_progress WHERE witness = ?", (witness,)).fetchone()
            return None if row is None else int(row[0])

        return await self.db.read(run)

    async def set_cosigned_size(self, witness: str, size: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO witness_progress (witness, size) VALUES (?, ?) "
                "ON CONFLICT (witness) DO UPDATE SET size = excluded.size",
                (witness, size),
            )

        await self.db.write(run)

    async def add_cosignature(self, witness: str, size: int, line: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO witness_cosignatures (size, witness, line, received_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, received_at = excluded.received_at",
                (size, witness, line, times.iso(times.now())),
            )
            conn.execute(
                "INSERT INTO witness_progress (witness, size) VALUES (?, ?) "
                "ON CONFLICT (witness) DO UPDATE SET size = excluded.size",
                (witness, size),
            )

        await self.db.write(run)

    async def cosignatures(self, sizes: Sequence[int]) -> dict[int, list[str]]:
        wanted = sorted(set(sizes))

        def run(conn: sqlite3.Connection) -> dict[int, list[str]]:
            found: dict[int, list[str]] = {}
            for start in range(0, len(wanted), 500):  # below SQLite's limit on bound parameters
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    f"SELECT size, line FROM witness_cosignatures WHERE size IN ({','.join('?' * len(chunk))}) "
                    "ORDER BY size, witness",
                    chunk,
                ).fetchall()
                for size, line in rows:
                    found.setdefault(int(size), []).append(str(line))
            return found

        return await self.db.read(run) if wanted else {}
