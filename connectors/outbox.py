"""A local durable outbox (SQLite): submissions prepared while the repository is unreachable are sent
when it comes back, exactly once, in order per record.

- **Durable**: an entry is committed (``synchronous=FULL``) before anything is sent; its submission id
  is chosen then and never changes.
- **Exactly once**: an entry is signed once, just before its first attempt (so that ``created_at`` is
  fresh and the audience is the repository's origin), and the signed bytes are stored *before* they are
  sent. Every retry, after a crash too, sends those same bytes, which the repository answers with the
  first outcome. Only if the repository proves it never received them (``created_at`` went stale during
  a long outage and ``…/receipt`` answers 404) is the entry signed again, under the same submission id.
- **In order per record**: an entry is sent only once every earlier entry of the same record is out of
  the way. With a participant token that means *decided* (the outbox waits for each verdict before it
  sends the next version of a record); without one, *received* (202), relying on the repository's
  order of receipt.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.sdk import ExchangeClient, Outcome, RepositoryError, Unreachable
from exchange import times
from exchange.client import Prepared, build_payload
from exchange.identifiers import record_key

#: ``held``: accepted for an editor's review, not yet published; its verdict is read again until it comes
OPEN_STATES = ("pending", "received", "held")
DECIDED_STATES = ("accepted", "rejected", "refused", "returned")
STATES = (*OPEN_STATES, *DECIDED_STATES)
MAX_RESIGN = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    participant TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    action TEXT NOT NULL,
    schema TEXT,
    base_version INTEGER,
    record TEXT,
    submission_id TEXT NOT NULL UNIQUE,
    source TEXT,
    file_id INTEGER,
    state TEXT NOT NULL,
    body BLOB,
    audience TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    resigned INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    detail TEXT,
    answer TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_record ON entries (participant, kind, record_id, seq);
CREATE INDEX IF NOT EXISTS entries_by_state ON entries (state, seq);
CREATE INDEX IF NOT EXISTS entries_by_file ON entries (file_id);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_open ON files (state, name, sha256);
"""


def _now() -> str:
    return times.iso(times.now())


@dataclass(frozen=True, slots=True)
class Entry:
    """One submission in the outbox."""

    seq: int
    participant: str
    kind: str
    record_id: str
    action: str
    schema: str | None
    base_version: int | None
    record: Any
    submission_id: str
    source: str | None
    file_id: int | None
    state: str
    body: bytes | None
    attempts: int
    resigned: int
    http_status: int | None
    detail: str | None
    answer: Any
    created_at: str
    updated_at: str

    @property
    def label(self) -> str:
        return record_key(self.participant, self.kind, self.record_id)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        return cls(
            seq=row["seq"],
            participant=row["participant"],
            kind=row["kind"],
            record_id=row["record_id"],
            action=row["action"],
            schema=row["schema"],
            base_version=row["base_version"],
            record=json.loads(row["record"]) if row["record"] is not None else None,
            submission_id=row["submission_id"],
            source=row["source"],
            file_id=row["file_id"],
            state=row["state"],
            body=row["body"],
            attempts=row["attempts"],
            resigned=row["resigned"],
            http_status=row["http_status"],
            detail=row["detail"],
            answer=json.loads(row["answer"]) if row["answer"] else None,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def as_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "seq": self.seq,
            "record": self.label,
            "action": self.action,
            "submission_id": self.submission_id,
            "state": self.state,
            "attempts": self.attempts,
            "source": self.source,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.http_status is not None:
            value["http_status"] = self.http_status
        if self.detail:
            value["detail"] = self.detail
        if isinstance(self.answer, dict):
            for name in ("version", "seq", "log_index"):
                if name in self.answer:
                    value[f"repository_{name}" if name == "seq" else name] = self.answer[name]
            if self.answer.get("errors"):
                value["errors"] = self.answer["errors"]
        return value


@dataclass(slots=True)
class FlushReport:
    """What one flush did."""

    sent: int = 0
    received: int = 0
    accepted: int = 0
    unchanged: int = 0  # of the accepted: equal to their record's current version, so no new version
    held: int = 0  # newly held for an editor's review (published once approved)
    returned: int = 0  # sent back by an editor, with comments
    rejected: int = 0
    refused: int = 0
    failed: int = 0
    remaining: int = 0
    unreachable: str | None = None
    decided: list[Entry] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True, slots=True)
class Queued:
    """A record to put into the outbox."""

    kind: str
    record_id: str
    record: Any = None
    action: str = "upsert"
    schema: str | None = None
    base_version: int | None = None
    source: str | None = None


class Outbox:
    """The outbox file. Cheap to open; safe to share between processes (SQLite locking)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- putting in ---------------------------------------------------------------------------------

    def enqueue(self, participant: str, items: Sequence[Queued], *, file_id: int | None = None) -> list[str]:
        """Add submissions (in this order), durably; return their submission ids."""
        with self._write() as db:
            return self._insert(db, participant, items, file_id)

    def _insert(
        self, db: sqlite3.Connection, participant: str, items: Sequence[Queued], file_id: int | None
    ) -> list[str]:
        ids: list[str] = []
        now = _now()
        for item in items:
            submission_id = str(uuid.uuid4())
            db.execute(
                "INSERT INTO entries (participant, kind, record_id, action, schema, base_version, record, "
                "submission_id, source, file_id, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    participant,
                    item.kind,
                    item.record_id,
                    item.action,
                    item.schema or f"{item.kind}/1",
                    item.base_version,
                    json.dumps(item.record, ensure_ascii=False) if item.action == "upsert" else None,
                    submission_id,
                    item.source,
                    file_id,
                    now,
                    now,
                ),
            )
            ids.append(submission_id)
        return ids

    def enqueue_file(self, participant: str, name: str, sha256: str, items: Sequence[Queued]) -> int:
        """Add the submissions of one file and remember the file, in one transaction; return its id."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO files (name, sha256, state, created_at) VALUES (?, ?, 'open', ?)", (name, sha256, _now())
            )
            file_id = int(cursor.lastrowid or 0)
            self._insert(db, participant, items, file_id)
        return file_id

    def open_file(self, name: str, sha256: str) -> int | None:
        row = self._db.execute(
            "SELECT id FROM files WHERE state = 'open' AND name = ? AND sha256 = ? ORDER BY id DESC LIMIT 1",
            (name, sha256),
        ).fetchone()
        return int(row["id"]) if row else None

    def open_files(self) -> list[tuple[int, str, str]]:
        rows = self._db.execute("SELECT id, name, sha256 FROM files WHERE state = 'open' ORDER BY id").fetchall()
        return [(int(r["id"]), str(r["name"]), str(r["sha256"])) for r in rows]

    def close_file(self, file_id: int) -> None:
        with self._write() as db:
            db.execute("UPDATE files SET state = 'done' WHERE id = ?", (file_id,))

    def file_entries(self, file_id: int) -> list[Entry]:
        rows = self._db.execute("SELECT * FROM entries WHERE file_id = ? ORDER BY seq", (file_id,)).fetchall()
        return [Entry.from_row(r) for r in rows]

    # --- looking ------------------------------------------------------------------------------------

    def entries(self, states: Sequence[str] = STATES, limit: int | None = None) -> list[Entry]:
        marks = ",".join("?" for _ in states)
        sql = f"SELECT * FROM entries WHERE state IN ({marks}) ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Entry.from_row(r) for r in self._db.execute(sql, tuple(states)).fetchall()]

    def entry(self, submission_id: str) -> Entry | None:
        row = self._db.execute("SELECT * FROM entries WHERE submission_id = ?", (submission_id,)).fetchone()
        return Entry.from_row(row) if row else None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for row in self._db.execute("SELECT state, COUNT(*) AS n FROM entries GROUP BY state"):
            counts[row["state"]] = row["n"]
        return counts

    # --- sending ------------------------------------------------------------------------------------

    def _sendable(self, participant: str, strict: bool, limit: int) -> list[Entry]:
        """Pending entries with no earlier entry of the same record in the way, oldest first."""
        # a held submission blocks its record's later ones: approved later, it would become the newer version
        blocking = ("pending", "received", "held") if strict else ("pending",)
        marks = ",".join("?" for _ in blocking)
        rows = self._db.execute(
            f"""SELECT * FROM entries AS e WHERE e.participant = ? AND e.state = 'pending'
                AND NOT EXISTS (SELECT 1 FROM entries AS b WHERE b.participant = e.participant
                    AND b.kind = e.kind AND b.record_id = e.record_id AND b.seq < e.seq
                    AND b.state IN ({marks}))
                ORDER BY e.seq LIMIT ?""",
            (participant, *blocking, limit),
        ).fetchall()
        return [Entry.from_row(r) for r in rows]

    def _signed(self, entry: Entry, client: ExchangeClient, audience: str) -> Prepared:
        """The entry's signed bytes: the stored ones, or new ones stored before they are used."""
        if entry.body is not None:
            return Prepared(entry.participant, entry.submission_id, entry.body)
        payload = build_payload(
            participant=entry.participant,
            audience=audience,
            kind=entry.kind,
            record_id=entry.record_id,
            action=entry.action,
            record=entry.record,
            schema=entry.schema,
            base_version=entry.base_version,
            submission_id=entry.submission_id,
        )
        prepared = client.sign_payload(payload)
        with self._write() as db:
            row = db.execute("SELECT body FROM entries WHERE seq = ?", (entry.seq,)).fetchone()
            if row["body"] is not None:  # another process signed it first: use its bytes
                return Prepared(entry.participant, entry.submission_id, row["body"])
            db.execute(
                "UPDATE entries SET body = ?, audience = ?, updated_at = ? WHERE seq = ?",
                (prepared.body, audience, _now(), entry.seq),
            )
        return prepared

    def _record(self, entry: Entry, state: str, outcome: Outcome | None, *, attempted: bool = True) -> None:
        answer = json.dumps(outcome.body, ensure_ascii=False) if outcome is not None and outcome.body else None
        with self._write() as db:
            db.execute(
                "UPDATE entries SET state = ?, attempts = attempts + ?, http_status = ?, detail = ?, "
                "answer = COALESCE(?, answer), updated_at = ? WHERE seq = ?",
                (
                    state,
                    1 if attempted else 0,
                    outcome.http_status if outcome is not None else None,
                    (outcome.detail or None) if outcome is not None else None,
                    answer,
                    _now(),
                    entry.seq,
                ),
            )

    def _resign(self, entry: Entry) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE entries SET body = NULL, resigned = resigned + 1, updated_at = ? WHERE seq = ?",
                (_now(), entry.seq),
            )

    async def flush(
        self,
        client: ExchangeClient,
        *,
        wait: float = 60.0,
        batch: int = 500,
        strict: bool | None = None,
    ) -> FlushReport:
        """Send what can be sent, in order per record, and (with a token) collect verdicts for up to
        ``wait`` seconds. Stops early, leaving entries pending, when the repository is unreachable."""
        report = FlushReport()
        strict = bool(client.token) if strict is None else strict
        participant = client.participant
        deadline = time.monotonic() + wait
        try:
            audience = await client.audience()
        except (Unreachable, RepositoryError) as exc:
            report.unreachable = str(exc)
            report.remaining = self.open_count(participant)
            return report
        if strict and any(e.state == "held" for e in self._received(participant)):
            await self._collect(client, report)  # reviews decided since the last flush free what they held
        while True:
            sendable = self._sendable(participant, strict, batch)
            if sendable:
                if not await self._send(client, audience, sendable, report):
                    break
                continue
            # held entries are looked at again on each flush, but no flush waits for a review
            if not strict or not self._received(participant, held=False):
                break
            progressed = await self._collect(client, report)
            if report.unreachable:
                break
            if not progressed:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.1)
        report.remaining = self.open_count(participant)
        return report

    async def _send(self, client: ExchangeClient, audience: str, entries: list[Entry], report: FlushReport) -> bool:
        prepared = [self._signed(e, client, audience) for e in entries]
        outcomes = await client.submit_many(prepared)
        report.sent += len(prepared)
        delivered = False
        for entry, outcome in zip(entries, outcomes, strict=True):
            if outcome.status == "received":
                self._record(entry, "received", outcome)
                report.received += 1
                delivered = True
            elif outcome.status == "failed":
                self._record(entry, "pending", outcome)
                report.failed += 1
                report.unreachable = outcome.detail or f"HTTP {outcome.http_status}"
            elif _stale(outcome) and entry.resigned < MAX_RESIGN:
                if await client.exists(entry.participant, entry.submission_id):
                    self._record(entry, "received", outcome)
                else:
                    self._resign(entry)  # never received: sign again under the same submission id
                delivered = True
            else:
                self._record(entry, "refused", outcome)
                report.refused += 1
                fresh = self.entry(entry.submission_id)
                if fresh is not None:
                    report.decided.append(fresh)
                delivered = True
        return delivered and report.unreachable is None

    def _received(self, participant: str, *, held: bool = True) -> list[Entry]:
        """Entries whose verdict is still to be read: received ones, and (``held``) those held for review."""
        states = "('received', 'held')" if held else "('received')"
        rows = self._db.execute(
            f"SELECT * FROM entries WHERE participant = ? AND state IN {states} ORDER BY seq", (participant,)
        ).fetchall()
        return [Entry.from_row(r) for r in rows]

    async def _collect(self, client: ExchangeClient, report: FlushReport, chunk: int = 16) -> bool:
        """Read the verdicts of received entries, oldest first; True if any was decided.

        The repository decides roughly in order of receipt, so a round stops at the first chunk that
        still holds an undecided entry: a bulk import costs about one status request per submission.
        """

        async def one(entry: Entry) -> tuple[Entry, Outcome | None]:
            try:
                return entry, await client.status(entry.participant, entry.submission_id)
            except Unreachable as exc:
                report.unreachable = str(exc)
            except RepositoryError as exc:
                report.unreachable = str(exc) if exc.status in (401, 403) else report.unreachable
            return entry, None

        progressed = False
        received = self._received(client.participant)
        for start in range(0, len(received), chunk):
            answers = await asyncio.gather(*(one(e) for e in received[start : start + chunk]))
            waiting = False
            for entry, outcome in answers:
                if outcome is not None and outcome.status == "held":
                    if entry.state != "held":  # its review may take days: the entries after it go on
                        self._record(entry, "held", outcome, attempted=False)
                        report.held += 1
                        progressed = True
                    continue
                if outcome is None or outcome.status not in ("accepted", "rejected", "returned"):
                    waiting = True
                    continue
                self._record(entry, outcome.status, outcome, attempted=False)
                if outcome.status == "accepted":
                    report.accepted += 1
                    report.unchanged += outcome.unchanged
                elif outcome.status == "returned":
                    report.returned += 1
                else:
                    report.rejected += 1
                fresh = self.entry(entry.submission_id)
                if fresh is not None:
                    report.decided.append(fresh)
                progressed = True
            if waiting or report.unreachable:
                break
        return progressed

    def open_count(self, participant: str) -> int:
        """Entries of ``participant`` still waiting (pending or received)."""
        row = self._db.execute(
            "SELECT COUNT(*) AS n FROM entries WHERE participant = ? AND state IN ('pending', 'received')",
            (participant,),
        ).fetchone()
        return int(row["n"])

    def retry_refused(self) -> int:
        """Put refused entries back in the queue (after the cause, such as an unregistered key, is fixed)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE entries SET state = 'pending', body = NULL, updated_at = ? WHERE state = 'refused'", (_now(),)
            )
            return int(cursor.rowcount)


def _stale(outcome: Outcome) -> bool:
    """A 422 whose only complaint is ``created_at``: the signed bytes are too old to be received now."""
    return (
        outcome.http_status == 422
        and bool(outcome.errors)
        and all(e.get("pointer") == "/created_at" for e in outcome.errors)
    )
