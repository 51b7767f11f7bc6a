"""The relay outbox: submissions for upstream repositories, stored before the hub answers ``202``.

One row per submission (``participant``, ``submission_id``), holding the exact bytes received, their
media type, the upstream and the record they change. Its states:

* ``relaying``: stored, not yet acknowledged by the upstream (the forwarder keeps trying);
* ``forwarded``: the upstream answered ``202``; its answer (acknowledgment, status link) is kept;
* ``refused``: the upstream answered with a problem that re-sending the same bytes cannot change.

**In order per record**: an entry is handed to the forwarder only when no earlier entry of the same
record is still ``relaying``, so the upstream receives the versions of a record in the order the hub
did. **Exactly once**: the bytes never change, and the upstream answers a re-sent identical JWS with its
first outcome (it deduplicates by submission id and JWS hash), so a retry after a lost answer is safe.
**Several processes**: an entry being sent is leased (``leased_until``); another process skips it until
the lease ends, and at worst sends the same bytes twice, which the upstream absorbs.

The file is SQLite in WAL mode with ``synchronous=FULL``, written through one writer thread per process
(:class:`exchange.sqlitedb.SqliteDatabase`); processes on one host share it. Gateways on several hosts
each keep their own outbox and forward what they received; a submitter then polls the host it sent to.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange import times
from exchange.sqlitedb import SqliteDatabase

FILE_NAME = "relay-outbox.sqlite3"
STATES = ("relaying", "forwarded", "refused")

MIGRATIONS = [
    """
CREATE TABLE relay_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    upstream TEXT NOT NULL,
    participant TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    record TEXT NOT NULL,
    jws_sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL,
    body BLOB NOT NULL,
    signature_checked INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    leased_until REAL,
    http_status INTEGER,
    location TEXT,
    answer TEXT,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (participant, submission_id)
);
CREATE INDEX relay_entries_open ON relay_entries (upstream, state, seq);
CREATE INDEX relay_entries_by_record ON relay_entries (record, seq);
CREATE TABLE relay_key_directories (
    upstream TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    fetched_at TEXT NOT NULL
)
"""
]


@dataclass(frozen=True, slots=True)
class RelayEntry:
    """One relayed submission and what its upstream answered so far."""

    seq: int
    upstream: str
    participant: str
    submission_id: str
    record: str
    jws_sha256: str
    media_type: str
    body: bytes
    signature_checked: bool
    state: str
    attempts: int
    http_status: int | None
    location: str | None
    answer: Any
    received_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RelayEntry:
        return cls(
            seq=row["seq"],
            upstream=row["upstream"],
            participant=row["participant"],
            submission_id=row["submission_id"],
            record=row["record"],
            jws_sha256=row["jws_sha256"],
            media_type=row["media_type"],
            body=bytes(row["body"]),
            signature_checked=bool(row["signature_checked"]),
            state=row["state"],
            attempts=row["attempts"],
            http_status=row["http_status"],
            location=row["location"],
            answer=json.loads(row["answer"]) if row["answer"] else None,
            received_at=row["received_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A checked submission to store."""

    upstream: str
    participant: str
    submission_id: str
    record: str
    jws_sha256: str
    media_type: str
    body: bytes
    signature_checked: bool
    received_at: str


def _rows(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[RelayEntry]:
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return [RelayEntry.from_row(row) for row in cursor.execute(sql, args).fetchall()]


def _entry(conn: sqlite3.Connection, participant: str, submission_id: str) -> RelayEntry | None:
    found = _rows(
        conn, "SELECT * FROM relay_entries WHERE participant = ? AND submission_id = ?", (participant, submission_id)
    )
    return found[0] if found else None


class RelayOutbox:
    """The outbox file of this node, opened once per process."""

    def __init__(self, path: Path) -> None:
        self.db = SqliteDatabase(path)

    @classmethod
    def in_directory(cls, data_dir: Path) -> RelayOutbox:
        return cls(data_dir / FILE_NAME)

    async def open(self) -> None:
        await self.db.open("relay", MIGRATIONS)

    async def close(self) -> None:
        await self.db.close()

    async def add(self, entry: NewEntry) -> RelayEntry:
        """Store ``entry`` durably, or return the one already stored under its submission id."""

        def run(conn: sqlite3.Connection) -> RelayEntry:
            conn.execute(
                "INSERT INTO relay_entries (upstream, participant, submission_id, record, jws_sha256, media_type, "
                "body, signature_checked, state, received_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'relaying', ?, ?) ON CONFLICT (participant, submission_id) DO NOTHING",
                (
                    entry.upstream,
                    entry.participant,
                    entry.submission_id,
                    entry.record,
                    entry.jws_sha256,
                    entry.media_type,
                    entry.body,
                    int(entry.signature_checked),
                    entry.received_at,
                    entry.received_at,
                ),
            )
            stored = _entry(conn, entry.participant, entry.submission_id)
            assert stored is not None  # inserted or already there, in this transaction
            return stored

        return await self.db.write(run)

    async def get(self, participant: str, submission_id: str) -> RelayEntry | None:
        return await self.db.read(lambda conn: _entry(conn, participant, submission_id))

    async def lease(self, upstream: str, limit: int, seconds: float) -> list[RelayEntry]:
        """Lease the next entries to send to ``upstream``: the oldest ``relaying`` entry of each record
        (none whose earlier entry still waits), not leased by another process, oldest first."""

        def run(conn: sqlite3.Connection) -> list[RelayEntry]:
            now = time.time()
            found = _rows(
                conn,
                """SELECT * FROM relay_entries AS e WHERE e.upstream = ? AND e.state = 'relaying'
                   AND (e.leased_until IS NULL OR e.leased_until < ?)
                   AND NOT EXISTS (SELECT 1 FROM relay_entries AS b WHERE b.record = e.record
                       AND b.seq < e.seq AND b.state = 'relaying')
                   ORDER BY e.seq LIMIT ?""",
                (upstream, now, limit),
            )
            conn.executemany(
                "UPDATE relay_entries SET leased_until = ? WHERE seq = ?", [(now + seconds, e.seq) for e in found]
            )
            return found

        return await self.db.write(run)

    async def settle(
        self, entry: RelayEntry, state: str, http_status: int | None, location: str | None, answer: Any
    ) -> None:
        """Record one attempt: the upstream's status and answer, and the entry's new state (``relaying``
        again, for a transient failure, releases the lease so the entry is tried again)."""
        text = json.dumps(answer, ensure_ascii=False) if answer is not None else None

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE relay_entries SET state = ?, attempts = attempts + 1, leased_until = NULL, "
                "http_status = ?, location = COALESCE(?, location), answer = COALESCE(?, answer), updated_at = ? "
                "WHERE seq = ? AND state = 'relaying'",
                (state, http_status, location, text, times.iso(times.now()), entry.seq),
            )

        await self.db.write(run)

    async def counts(self) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            counts = dict.fromkeys(STATES, 0)
            for state, n in conn.execute("SELECT state, COUNT(*) FROM relay_entries GROUP BY state"):
                counts[str(state)] = int(n)
            return counts

        return await self.db.read(run)

    async def key_directory(self, upstream: str) -> Any:
        """The upstream's key directory as last fetched (its JSON document), or None."""

        def run(conn: sqlite3.Connection) -> Any:
            row = conn.execute("SELECT document FROM relay_key_directories WHERE upstream = ?", (upstream,)).fetchone()
            return json.loads(row[0]) if row else None

        return await self.db.read(run)

    async def keep_key_directory(self, upstream: str, document: Any) -> None:
        text = json.dumps(document, ensure_ascii=False)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO relay_key_directories (upstream, document, fetched_at) VALUES (?, ?, ?) "
                "ON CONFLICT (upstream) DO UPDATE SET document = excluded.document, fetched_at = excluded.fetched_at",
                (upstream, text, times.iso(times.now())),
            )

        await self.db.write(run)
