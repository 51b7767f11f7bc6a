"""The registry: participants, their keys (each event logged) and API tokens."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from exchange import times
from exchange.errors import ExchangeError, Problems
from exchange.models import Participant, TokenInfo
from exchange.publickeys import PublicKey
from exchange.repository.common import (
    KEY_COLUMNS,
    NEW_KEY_COLUMNS,
    TOKEN_COLUMNS,
    key_of,
    key_values,
    participant_of,
    token_of,
)
from exchange.repository.sqlite.log import append_log, log_size
from exchange.repository.sqlite.store import SqliteStore
from exchange.sequencer import LogEntry
from exchange.transparency.entries import key_entry


class RegistryStore(SqliteStore):
    """Participants, keys and tokens."""

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
                    "INSERT INTO tokens (token_hash, token_id, participant, role, label, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        token_hash,
                        info.token_id,
                        info.participant,
                        info.role,
                        info.label,
                        info.created_at,
                        info.expires_at,
                    ),
                )
            except sqlite3.IntegrityError:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"token {info.token_id} already exists") from None

        await self.db.write(run)

    async def find_token(self, token_hash: str) -> TokenInfo | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
        )
        return token_of(row) if row else None

    async def list_tokens(self) -> list[TokenInfo]:
        rows = await self.db.read(
            lambda c: c.execute(f"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at").fetchall()
        )
        return [token_of(r) for r in rows]

    async def revoke_token(self, token_id: str, at: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL", (at, token_id)
            )
            return cur.rowcount > 0

        return await self.db.write(run)
