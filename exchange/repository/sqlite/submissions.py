"""Submissions: receiving them, deciding them (one write transaction each batch) and listing them for audit."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from exchange.models import AuditedSubmission, AuditQuery, Decision, QueuedSubmission, RecordVersion, SubmissionState
from exchange.repository.common import SUBMISSION_COLUMNS, VERSION_COLUMNS, state_of, version_of
from exchange.repository.sqlite.decisions import decide_rows, receive_rows
from exchange.repository.sqlite.store import SqliteStore


class SubmissionStore(SqliteStore):
    """Submissions from receipt to decision, and the audit listings of decided ones."""

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
        return [AuditedSubmission(state_of(r), bytes(r[-2]), r[-1]) for r in rows]

    async def all_versions(self, after_seq: int = 0, limit: int = 1000) -> list[RecordVersion]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        )
        return [version_of(r) for r in rows]
