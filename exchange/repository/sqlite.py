"""The embedded repository: SQLite in WAL mode, one writer per process."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from exchange import times
from exchange.errors import ExchangeError, Problems
from exchange.keys import PublicKey
from exchange.models import (
    AuditedSubmission,
    AuditQuery,
    Change,
    ChangeQuery,
    Decision,
    DeliveryAttempt,
    Participant,
    QueuedSubmission,
    RecordKey,
    RecordQuery,
    RecordVersion,
    StoredCheckpoint,
    SubmissionState,
    Subscription,
    TokenInfo,
)
from exchange.repository.common import (
    KEY_COLUMNS,
    NEW_KEY_COLUMNS,
    SUBMISSION_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    VERSION_COLUMNS,
    key_of,
    key_values,
    participant_of,
    state_of,
    subscription_from_row,
    subscription_row,
    subscription_update,
    token_of,
    version_of,
)
from exchange.repository.sqlite_schema import MIGRATIONS
from exchange.sequencer import Current, LogEntry, plan
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase
from exchange.transparency.entries import key_entry
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


class SqliteRepository:
    """The :class:`exchange.repository.Repository` port on an SQLite file."""

    def __init__(self, db: SqliteDatabase, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def open(self) -> None:
        await self.db.open("repository", MIGRATIONS)

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())

    # registry ---------------------------------------------------------------------------------

    async def add_participant(self, participant: Participant) -> None:
        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO participants (id, name, type, jurisdictions, created_at) VALUES (?, ?, ?, ?, ?)",
                    (
                        participant.id,
                        participant.name,
                        participant.type,
                        orjson.dumps(list(participant.jurisdictions)).decode(),
                        participant.created_at,
                    ),
                )
            except sqlite3.IntegrityError:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"participant {participant.id!r} already exists") from None

        await self.db.write(run)

    async def get_participant(self, participant_id: str) -> Participant | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT id, name, type, jurisdictions, created_at FROM participants WHERE id = ?",
                (participant_id,),
            ).fetchone()
        )
        return participant_of(row) if row else None

    async def list_participants(self) -> list[Participant]:
        rows = await self.db.read(
            lambda c: c.execute(
                "SELECT id, name, type, jurisdictions, created_at FROM participants ORDER BY id"
            ).fetchall()
        )
        return [participant_of(r) for r in rows]

    async def add_key(self, key: PublicKey) -> int:
        added = times.iso(key.added_at or times.now())

        def run(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM participants WHERE id = ?", (key.participant,)).fetchone() is None:
                raise ExchangeError(Problems.NOT_FOUND, f"participant {key.participant!r} is not registered")
            index = log_size(conn)
            try:
                conn.execute(
                    f"INSERT INTO keys ({NEW_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    key_values(key, added, index),
                )
            except sqlite3.IntegrityError:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"key {key.kid!r} already exists") from None
            entry = key_entry(
                index=index,
                action="added",
                kid=key.kid,
                participant=key.participant,
                jwk_thumbprint=key.thumbprint,
                at=added,
            )
            append_log(conn, [LogEntry(index, entry)])
            return index

        return await self.db.write(run)

    async def revoke_key(self, kid: str, reason: str, at: str) -> tuple[PublicKey, int]:
        def run(conn: sqlite3.Connection) -> tuple[PublicKey, int]:
            row = conn.execute(f"SELECT {KEY_COLUMNS} FROM keys WHERE kid = ?", (kid,)).fetchone()
            if row is None:
                raise ExchangeError(Problems.NOT_FOUND, f"key {kid!r} is not registered")
            if row[6] is not None:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"key {kid!r} was already revoked at {row[6]}")
            conn.execute("UPDATE keys SET revoked_at = ?, revoked_reason = ? WHERE kid = ?", (at, reason, kid))
            key = key_of(conn.execute(f"SELECT {KEY_COLUMNS} FROM keys WHERE kid = ?", (kid,)).fetchone())
            index = log_size(conn)
            entry = key_entry(
                index=index,
                action="revoked",
                kid=kid,
                participant=key.participant,
                jwk_thumbprint=key.thumbprint,
                at=at,
            )
            append_log(conn, [LogEntry(index, entry)])
            return key, index

        return await self.db.write(run)

    async def get_key(self, kid: str) -> PublicKey | None:
        row = await self.db.read(
            lambda c: c.execute(f"SELECT {KEY_COLUMNS} FROM keys WHERE kid = ?", (kid,)).fetchone()
        )
        return key_of(row) if row else None

    async def list_keys(self, participant: str | None = None) -> list[PublicKey]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            if participant is None:
                return conn.execute(f"SELECT {KEY_COLUMNS} FROM keys ORDER BY kid").fetchall()
            return conn.execute(
                f"SELECT {KEY_COLUMNS} FROM keys WHERE participant = ? ORDER BY kid", (participant,)
            ).fetchall()

        return [key_of(r) for r in await self.db.read(run)]

    async def add_token(self, token_hash: str, info: TokenInfo) -> None:
        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO tokens (token_hash, token_id, participant, role, label, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (token_hash, info.token_id, info.participant, info.role, info.label, info.created_at),
                )
            except sqlite3.IntegrityError:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"token {info.token_id} already exists") from None

        await self.db.write(run)

    async def find_token(self, token_hash: str) -> TokenInfo | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT token_id, participant, role, label, created_at, revoked_at FROM tokens WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
        )
        return token_of(row) if row else None

    async def list_tokens(self) -> list[TokenInfo]:
        rows = await self.db.read(
            lambda c: c.execute(
                "SELECT token_id, participant, role, label, created_at, revoked_at FROM tokens ORDER BY created_at"
            ).fetchall()
        )
        return [token_of(r) for r in rows]

    async def revoke_token(self, token_id: str, at: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL", (at, token_id)
            )
            return cur.rowcount > 0

        return await self.db.write(run)

    # submissions ------------------------------------------------------------------------------

    async def receive(self, submissions: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
        return await self.db.write(lambda conn: receive_rows(conn, submissions))

    async def decide(self, decisions: Sequence[Decision]) -> list[SubmissionState]:
        return await self.db.write(lambda conn: decide_rows(conn, decisions))

    async def get_submission(self, participant: str, submission_id: str) -> SubmissionState | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE participant = ? AND submission_id = ?",
                (participant, submission_id),
            ).fetchone()
        )
        return state_of(row) if row else None

    async def get_submissions(self, idents: Sequence[tuple[str, str]]) -> dict[tuple[str, str], SubmissionState]:
        unique = list(dict.fromkeys(idents))

        def run(conn: sqlite3.Connection) -> dict[tuple[str, str], SubmissionState]:
            found: dict[tuple[str, str], SubmissionState] = {}
            for participant, submission_id in unique:
                row = conn.execute(
                    f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE participant = ? AND submission_id = ?",
                    (participant, submission_id),
                ).fetchone()
                if row is not None:
                    found[(participant, submission_id)] = state_of(row)
            return found

        return await self.db.read(run) if unique else {}

    async def get_submission_body(self, participant: str, submission_id: str) -> tuple[bytes, str] | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT body, serialization FROM submissions WHERE participant = ? AND submission_id = ?",
                (participant, submission_id),
            ).fetchone()
        )
        return (bytes(row[0]), row[1]) if row else None

    # transparency log -------------------------------------------------------------------------

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
        return StoredCheckpoint(row[0], bytes(row[1]), row[2], row[3]) if row else None

    async def list_checkpoints(self, after: int = 0, limit: int = 1000) -> list[StoredCheckpoint]:
        rows = await self.db.read(
            lambda c: c.execute(
                "SELECT size, root, note, signed_at FROM log_checkpoints WHERE size > ? ORDER BY size LIMIT ?",
                (after, limit),
            ).fetchall()
        )
        return [StoredCheckpoint(r[0], bytes(r[1]), r[2], r[3]) for r in rows]

    # change feed ------------------------------------------------------------------------------

    async def last_seq(self) -> int:
        row = await self.db.read(lambda c: c.execute("SELECT max(seq) FROM changes").fetchone())
        return int(row[0] or 0)

    async def list_changes(self, query: ChangeQuery) -> list[Change]:
        where: list[str] = ["c.seq > ?"]
        args: list[Any] = [query.since]
        for column, values in (
            ("kind", query.kinds),
            ("participant", query.participants),
            ("jurisdiction", query.jurisdictions),
        ):
            if values:
                where.append(f"c.{column} IN ({', '.join('?' * len(values))})")
                args += list(values)
        content = "v.content" if query.include_content else "NULL"
        jws = "s.body" if query.include_jws else "NULL"
        sql = (
            "SELECT c.seq, c.action, c.participant, c.kind, c.record_id, c.version, c.log_index, c.submission_id, "
            f"c.kid, c.received_at, c.jurisdiction, {content}, {jws} FROM changes c "
            + (
                "JOIN record_versions v ON v.participant = c.participant AND v.kind = c.kind "
                "AND v.record_id = c.record_id AND v.version = c.version "
                if query.include_content
                else ""
            )
            + (
                "JOIN submissions s ON s.participant = c.participant AND s.submission_id = c.submission_id "
                if query.include_jws
                else ""
            )
            + f"WHERE {' AND '.join(where)} ORDER BY c.seq LIMIT ?"
        )
        rows = await self.db.read(lambda c: c.execute(sql, [*args, query.limit]).fetchall())
        return [
            Change(
                seq=r[0],
                action=r[1],
                key=RecordKey(r[2], r[3], r[4]),
                version=r[5],
                log_index=r[6],
                submission_id=r[7],
                kid=r[8],
                received_at=r[9],
                jurisdiction=r[10],
                content=orjson.loads(r[11]) if r[11] is not None else None,
                jws=bytes(r[12]).decode() if r[12] is not None else None,
            )
            for r in rows
        ]

    # webhook subscriptions --------------------------------------------------------------------

    async def add_subscription(self, subscription: Subscription) -> None:
        row = subscription_row(subscription)

        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row
                )
            except sqlite3.IntegrityError:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"subscription {subscription.id} already exists") from None

        await self.db.write(run)

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
            ).fetchone()
        )
        return subscription_from_row(row) if row else None

    async def list_subscriptions(self, owner: str | None = None) -> list[Subscription]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            if owner is None:
                return conn.execute(
                    f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY created_at, id"
                ).fetchall()
            return conn.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE owner = ? ORDER BY created_at, id", (owner,)
            ).fetchall()

        return [subscription_from_row(r) for r in await self.db.read(run)]

    async def update_subscription(
        self, subscription_id: str, fields: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> bool:
        sets, args = subscription_update(fields, expect or {}, "?")

        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute(sets, [*args[: len(fields)], subscription_id, *args[len(fields) :]]).rowcount > 0

        return await self.db.write(run)

    async def delete_subscription(self, subscription_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,)).rowcount > 0

        return await self.db.write(run)

    async def claim_subscriptions(self, owner: str, until: str, now: str, limit: int) -> list[Subscription]:
        def run(conn: sqlite3.Connection) -> list[Subscription]:
            rows = conn.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE status IN ('pending', 'active') "
                "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) ORDER BY created_at, id LIMIT ?",
                (owner, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE subscriptions SET lease_owner = ?, lease_until = ? WHERE id = ?",
                [(owner, until, r[0]) for r in rows],
            )
            claimed = [subscription_from_row(r) for r in rows]
            for sub in claimed:
                sub.lease_owner, sub.lease_until = owner, until
            return claimed

        return await self.db.write(run)

    async def add_delivery(self, attempt: DeliveryAttempt) -> None:
        await self.db.write(
            lambda c: c.execute(
                "INSERT INTO webhook_deliveries (subscription_id, seq, webhook_id, attempt, at, status_code, "
                "latency_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.subscription_id,
                    attempt.seq,
                    attempt.webhook_id,
                    attempt.attempt,
                    attempt.at,
                    attempt.status_code,
                    attempt.latency_ms,
                    attempt.error,
                ),
            )
        )

    async def list_deliveries(self, subscription_id: str, limit: int = 100) -> list[DeliveryAttempt]:
        rows = await self.db.read(
            lambda c: c.execute(
                "SELECT subscription_id, seq, webhook_id, attempt, at, status_code, latency_ms, error "
                "FROM webhook_deliveries WHERE subscription_id = ? ORDER BY id DESC LIMIT ?",
                (subscription_id, limit),
            ).fetchall()
        )
        return [DeliveryAttempt(*r) for r in rows]

    # audit ------------------------------------------------------------------------------------

    async def audit_submissions(self, query: AuditQuery) -> list[AuditedSubmission]:
        where: list[str] = ["log_index > ?"]
        args: list[Any] = [query.after]
        for column, value in (("participant", query.participant), ("kid", query.kid), ("status", query.outcome)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.received_from is not None:
            where.append("received_at >= ?")
            args.append(query.received_from)
        if query.received_to is not None:
            where.append("received_at < ?")
            args.append(query.received_to)
        sql = (
            f"SELECT {SUBMISSION_COLUMNS}, body, serialization FROM submissions WHERE {' AND '.join(where)} "
            "ORDER BY log_index LIMIT ?"
        )
        rows = await self.db.read(lambda c: c.execute(sql, [*args, query.limit]).fetchall())
        return [AuditedSubmission(state_of(r), bytes(r[14]), r[15]) for r in rows]

    async def all_versions(self, after_seq: int = 0, limit: int = 1000) -> list[RecordVersion]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        )
        return [version_of(r) for r in rows]

    # records ----------------------------------------------------------------------------------

    async def current_version(self, key: RecordKey) -> int | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT version FROM records WHERE participant = ? AND kind = ? AND record_id = ?",
                (key.participant, key.kind, key.record_id),
            ).fetchone()
        )
        return int(row[0]) if row else None

    async def get_record(self, key: RecordKey) -> RecordVersion | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = ? AND kind = ? "
                "AND record_id = ? ORDER BY version DESC LIMIT 1",
                (key.participant, key.kind, key.record_id),
            ).fetchone()
        )
        return version_of(row) if row else None

    async def list_versions(self, key: RecordKey) -> list[RecordVersion]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = ? AND kind = ? "
                "AND record_id = ? ORDER BY version",
                (key.participant, key.kind, key.record_id),
            ).fetchall()
        )
        return [version_of(r) for r in rows]

    async def get_version(self, key: RecordKey, version: int) -> RecordVersion | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = ? AND kind = ? "
                "AND record_id = ? AND version = ?",
                (key.participant, key.kind, key.record_id, version),
            ).fetchone()
        )
        return version_of(row) if row else None

    async def list_records(self, query: RecordQuery) -> list[RecordVersion]:
        where = ["r.withdrawn = 0"]
        args: list[Any] = []
        for column in ("kind", "participant", "status"):
            value = getattr(query, column)
            if value is not None:
                where.append(f"r.{column} = ?")
                args.append(value)
        for facet, value in (("j", query.jurisdiction), ("r", query.region), ("t", query.tag)):
            if value is not None:
                where.append(
                    "EXISTS (SELECT 1 FROM record_terms t WHERE t.record = r.id AND t.facet = ? AND t.term = ?)"
                )
                args += [facet, value]
        if query.date_from is not None:
            where.append("r.date >= ?")
            args.append(query.date_from)
        if query.date_to is not None:
            where.append("r.date <= ?")
            args.append(query.date_to)
        if query.q:
            where.append("r.id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
            args.append(_fts_query(query.q))
        if query.after is not None:
            where.append("(r.participant, r.kind, r.record_id) > (?, ?, ?)")
            args += list(query.after)
        sql = (
            f"SELECT {', '.join('v.' + c.strip() for c in VERSION_COLUMNS.split(','))} "
            "FROM records r JOIN record_versions v ON v.participant = r.participant AND v.kind = r.kind "
            "AND v.record_id = r.record_id AND v.version = r.version "
            f"WHERE {' AND '.join(where)} ORDER BY r.participant, r.kind, r.record_id LIMIT ?"
        )
        args.append(query.limit)
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        return [version_of(r) for r in rows]


def _receipt_values(sub: QueuedSubmission) -> tuple[Any, ...]:
    """The submission's columns as received: participant, submission_id, kind, jws_sha256, serialization, body,
    received_at."""
    return (sub.participant, sub.submission_id, sub.kind, sub.jws_sha256, sub.serialization, sub.body, sub.received_at)


def receive_rows(conn: sqlite3.Connection, submissions: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
    """Record receipts inside the caller's transaction; for each, None when new, else the state stored."""
    out: list[SubmissionState | None] = []
    for sub in submissions:
        cur = conn.execute(
            "INSERT INTO submissions (participant, submission_id, kind, jws_sha256, serialization, body, "
            "received_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'received') "
            "ON CONFLICT (participant, submission_id) DO NOTHING",
            _receipt_values(sub),
        )
        if cur.rowcount:
            out.append(None)
        else:
            row = conn.execute(
                f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE participant = ? AND submission_id = ?",
                (sub.participant, sub.submission_id),
            ).fetchone()
            out.append(state_of(row))
    return out


def _fts_query(text: str) -> str:
    """Words of the user's query as FTS5 string literals, all required: no query syntax leaks through."""
    words = [w for w in text.replace('"', " ").split() if w]
    return " ".join(f'"{w}"' for w in words) or '""'


def decide_rows(conn: sqlite3.Connection, decisions: Sequence[Decision]) -> list[SubmissionState]:
    """Sequence and record decisions inside the caller's transaction (see :meth:`SqliteRepository.decide`)."""
    return _decide(conn, decisions, times.iso(times.now()))


def _decide(conn: sqlite3.Connection, decisions: Sequence[Decision], now: str) -> list[SubmissionState]:
    existing: dict[tuple[str, str], SubmissionState] = {}
    current: dict[RecordKey, Current] = {}
    for decision in decisions:
        sub = decision.submission
        row = conn.execute(
            f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE participant = ? AND submission_id = ?",
            (sub.participant, sub.submission_id),
        ).fetchone()
        if row is not None:
            existing[(sub.participant, sub.submission_id)] = state_of(row)
        key = decision.record
        if key is not None and key not in current:
            rec = conn.execute(
                "SELECT version, withdrawn FROM records WHERE participant = ? AND kind = ? AND record_id = ?",
                (key.participant, key.kind, key.record_id),
            ).fetchone()
            if rec is not None:
                current[key] = Current(rec[0], bool(rec[1]))
    seq_row = conn.execute("SELECT max(seq) FROM changes").fetchone()
    result = plan(decisions, existing, current, log_size(conn), (seq_row[0] or 0) + 1, now)
    for decision, state in result.decided:
        sub = decision.submission
        conn.execute(
            "INSERT INTO submissions (participant, submission_id, kind, jws_sha256, serialization, body, "
            "received_at, status, kid, payload_sha256, errors, record, version, seq, log_index, decided_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (participant, submission_id) DO UPDATE SET kind = excluded.kind, "
            "status = excluded.status, kid = excluded.kid, payload_sha256 = excluded.payload_sha256, "
            "errors = excluded.errors, record = excluded.record, version = excluded.version, "
            "seq = excluded.seq, log_index = excluded.log_index, decided_at = excluded.decided_at",
            (
                *_receipt_values(sub),
                state.status,
                state.kid,
                decision.payload_sha256,
                orjson.dumps(state.errors).decode() if state.errors else None,
                state.record,
                state.version,
                state.seq,
                state.log_index,
                state.decided_at,
            ),
        )
    for new in result.versions:
        _apply_version(conn, new.key, new.version, new.decision, new.seq, new.log_index, now)
    append_log(conn, result.entries)
    return result.states


def _apply_version(
    conn: sqlite3.Connection,
    key: RecordKey,
    version: int,
    decision: Decision,
    seq: int,
    log_index: int,
    now: str,
) -> None:
    sub = decision.submission
    content = decision.content.decode() if decision.content is not None else None
    conn.execute(
        f"INSERT INTO record_versions ({VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key.participant,
            key.kind,
            key.record_id,
            version,
            decision.action,
            decision.schema,
            content,
            sub.submission_id,
            decision.kid,
            sub.jws_sha256,
            sub.received_at,
            now,
            log_index,
            seq,
        ),
    )
    if decision.index is not None and decision.index.jurisdictions:
        jurisdiction: str | None = decision.index.jurisdictions[0]
    else:  # a withdrawal: the jurisdiction the record had
        row = conn.execute(
            "SELECT jurisdiction FROM changes WHERE participant = ? AND kind = ? AND record_id = ? "
            "ORDER BY seq DESC LIMIT 1",
            (key.participant, key.kind, key.record_id),
        ).fetchone()
        jurisdiction = row[0] if row else None
    conn.execute(
        "INSERT INTO changes (seq, participant, kind, record_id, version, action, log_index, submission_id, "
        "kid, received_at, jurisdiction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            key.participant,
            key.kind,
            key.record_id,
            version,
            decision.action,
            log_index,
            sub.submission_id,
            decision.kid,
            sub.received_at,
            jurisdiction,
        ),
    )
    withdrawn = decision.action == "withdraw"
    index = decision.index
    row = conn.execute(
        "INSERT INTO records (participant, kind, record_id, version, withdrawn, status, date) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (participant, kind, record_id) DO UPDATE SET "
        "version = excluded.version, withdrawn = excluded.withdrawn, "
        "status = coalesce(excluded.status, records.status), date = coalesce(excluded.date, records.date) "
        "RETURNING id",
        (
            key.participant,
            key.kind,
            key.record_id,
            version,
            int(withdrawn),
            index.status if index else None,
            index.date if index else None,
        ),
    ).fetchone()
    record_id = row[0]
    if withdrawn or index is None:
        return
    # a new version often leaves the search terms and text as they were: rewrite only what changed
    # (re-indexing the text means tokenizing both the old and the new one)
    terms = sorted(
        {("j", j) for j in index.jurisdictions} | {("r", r) for r in index.regions} | {("t", t) for t in index.tags}
    )
    stored = conn.execute("SELECT facet, term FROM record_terms WHERE record = ? ORDER BY facet, term", (record_id,))
    if stored.fetchall() != terms:
        conn.execute("DELETE FROM record_terms WHERE record = ?", (record_id,))
        conn.executemany(
            "INSERT INTO record_terms (record, facet, term) VALUES (?, ?, ?)",
            [(record_id, facet, term) for facet, term in terms],
        )
    text = (index.title, index.text)
    if conn.execute("SELECT title, body FROM records_fts WHERE rowid = ?", (record_id,)).fetchone() != text:
        conn.execute("DELETE FROM records_fts WHERE rowid = ?", (record_id,))
        conn.execute("INSERT INTO records_fts (rowid, title, body) VALUES (?, ?, ?)", (record_id, *text))
