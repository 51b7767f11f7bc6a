"""Submissions: receiving them, deciding them (the sequencer's transaction) and listing them for audit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchange import times
from exchange.models import AuditedSubmission, AuditQuery, Decision, QueuedSubmission, RecordVersion, SubmissionState
from exchange.repository.common import (
    SUBMISSION_COLUMNS,
    VERSION_COLUMNS,
    identifiers_of,
    involved,
    state_of,
    version_of,
)
from exchange.repository.postgresql.decisions import (
    fetch_current,
    fetch_holders,
    fetch_states,
    write_decided,
    write_endorsed,
    write_reviewed,
    write_versions,
)
from exchange.repository.postgresql.log import append_log, lock_sequencer
from exchange.repository.postgresql.pool import PostgresPool
from exchange.repository.postgresql.rows import as_columns
from exchange.sequencer import plan


def audit_query(query: AuditQuery) -> tuple[str, list[Any]]:
    """The SQL and arguments listing decided submissions after ``query.after`` in log order."""
    args: list[Any] = [query.after]
    where = ["log_index > $1"]
    for column, value in (("participant", query.participant), ("kid", query.kid), ("status", query.outcome)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if query.received_from is not None:
        args.append(query.received_from)
        where.append(f"received_at >= ${len(args)}")
    if query.received_to is not None:
        args.append(query.received_to)
        where.append(f"received_at < ${len(args)}")
    args.append(query.limit)
    sql = (
        f"SELECT {SUBMISSION_COLUMNS}, body, serialization FROM submissions WHERE {' AND '.join(where)} "
        f"ORDER BY log_index LIMIT ${len(args)}"
    )
    return sql, args


class SubmissionStore(PostgresPool):
    """Submissions from receipt to decision, and the audit listings of decided ones."""

    async def receive(self, submissions: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
        if not submissions:
            return []
        columns = as_columns(
            (
                (s.participant, s.submission_id, s.kind, s.jws_sha256, s.serialization, s.body, s.received_at)
                for s in submissions
            ),
            7,
        )
        async with self._transaction() as conn:
            inserted = await conn.fetch(
                "INSERT INTO submissions (participant, submission_id, kind, jws_sha256, serialization, body, "
                "received_at, status) SELECT u.*, 'received' FROM unnest($1::text[], $2::text[], $3::text[], "
                "$4::text[], $5::text[], $6::bytea[], $7::text[]) AS u "
                "ON CONFLICT (participant, submission_id) DO NOTHING RETURNING participant, submission_id",
                *columns,
            )
            fresh = {(r[0], r[1]) for r in inserted}
            idents = [(s.participant, s.submission_id) for s in submissions]
            first: dict[tuple[str, str], int] = {}
            for position, ident in enumerate(idents):
                first.setdefault(ident, position)
            new = {position for ident, position in first.items() if ident in fresh}
            known = [ident for position, ident in enumerate(idents) if position not in new]
            stored = await fetch_states(conn, known)
        return [None if position in new else stored[ident] for position, ident in enumerate(idents)]

    async def decide(self, decisions: Sequence[Decision]) -> list[SubmissionState]:
        if not decisions:
            return []
        async with self._transaction() as conn:
            await lock_sequencer(conn)
            now = times.iso(times.now())
            existing = await fetch_states(conn, (ident for d in decisions for ident in involved(d)))
            current = await fetch_current(conn, (d.applied.record for d in decisions if d.applied.record is not None))
            counters = await conn.fetchrow(
                "SELECT (SELECT coalesce(max(idx) + 1, 0) FROM log_entries), "
                "(SELECT coalesce(max(seq), 0) + 1 FROM changes)"
            )
            assert counters is not None  # a SELECT without FROM returns one row
            held = await fetch_holders(conn, identifiers_of(decisions))
            result = plan(decisions, existing, current, int(counters[0]), int(counters[1]), now, held)
            await write_decided(conn, result.decided)
            await write_reviewed(conn, result.reviewed)
            await write_endorsed(conn, result.endorsed)
            await write_versions(conn, result.versions, now)
            await append_log(conn, result.entries)
        return result.states

    async def get_submission(self, participant: str, submission_id: str) -> SubmissionState | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE participant = $1 AND submission_id = $2",
                participant,
                submission_id,
            )
        return state_of(row) if row else None

    async def get_submissions(self, idents: Sequence[tuple[str, str]]) -> dict[tuple[str, str], SubmissionState]:
        async with self._connection() as conn:
            return await fetch_states(conn, idents)

    async def get_submission_body(self, participant: str, submission_id: str) -> tuple[bytes, str] | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT body, serialization FROM submissions WHERE participant = $1 AND submission_id = $2",
                participant,
                submission_id,
            )
        return (bytes(row[0]), row[1]) if row else None

    async def audit_submissions(self, query: AuditQuery) -> list[AuditedSubmission]:
        sql, args = audit_query(query)
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [AuditedSubmission(state_of(r), bytes(r[-2]), r[-1]) for r in rows]

    async def all_versions(self, after_seq: int = 0, limit: int = 1000) -> list[RecordVersion]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE seq > $1 ORDER BY seq LIMIT $2",
                after_seq,
                limit,
            )
        return [version_of(r) for r in rows]
