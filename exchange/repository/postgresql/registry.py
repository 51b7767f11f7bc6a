"""The registry: participants, their keys (each addition and revocation a log entry) and API tokens."""

from __future__ import annotations

import orjson

from exchange import times
from exchange.errors import ExchangeError, Problems
from exchange.models import Participant, TokenInfo
from exchange.publickeys import PublicKey
from exchange.repository.common import (
    KEY_COLUMNS,
    NEW_KEY_COLUMNS,
    PARTICIPANT_COLUMNS,
    TOKEN_COLUMNS,
    key_of,
    key_values,
    participant_of,
    token_of,
)
from exchange.repository.postgresql.log import append_log, lock_sequencer, log_size
from exchange.repository.postgresql.pool import PostgresPool
from exchange.sequencer import LogEntry
from exchange.transparency.entries import key_entry


class RegistryStore(PostgresPool):
    """Participants, keys and tokens."""

    async def add_participant(self, participant: Participant) -> None:
        async with self._connection() as conn:
            added = await conn.fetchval(
                "INSERT INTO participants (id, name, type, jurisdictions, created_at) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
                participant.id,
                participant.name,
                participant.type,
                orjson.dumps(list(participant.jurisdictions)).decode(),
                participant.created_at,
            )
        if added is None:
            raise ExchangeError(Problems.ALREADY_EXISTS, f"participant {participant.id!r} already exists")

    async def get_participant(self, participant_id: str) -> Participant | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE id = $1", participant_id)
        return participant_of(row) if row else None

    async def list_participants(self) -> list[Participant]:
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT {PARTICIPANT_COLUMNS} FROM participants ORDER BY id")
        return [participant_of(r) for r in rows]

    async def add_key(self, key: PublicKey) -> int:
        added = times.iso(key.added_at or times.now())
        async with self._transaction() as conn:
            await lock_sequencer(conn)
            if await conn.fetchval("SELECT 1 FROM participants WHERE id = $1", key.participant) is None:
                raise ExchangeError(Problems.NOT_FOUND, f"participant {key.participant!r} is not registered")
            index = await log_size(conn)
            inserted = await conn.fetchval(
                f"INSERT INTO keys ({NEW_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (kid) DO NOTHING RETURNING 1",
                *key_values(key, added, index),
            )
            if inserted is None:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"key {key.kid!r} already exists")
            entry = key_entry(
                index=index,
                action="added",
                kid=key.kid,
                participant=key.participant,
                jwk_thumbprint=key.thumbprint,
                at=added,
            )
            await append_log(conn, [LogEntry(index, entry)])
        return index

    async def revoke_key(self, kid: str, reason: str, at: str) -> tuple[PublicKey, int]:
        async with self._transaction() as conn:
            await lock_sequencer(conn)
            row = await conn.fetchrow(f"SELECT {KEY_COLUMNS} FROM keys WHERE kid = $1 FOR UPDATE", kid)
            if row is None:
                raise ExchangeError(Problems.NOT_FOUND, f"key {kid!r} is not registered")
            if row[6] is not None:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"key {kid!r} was already revoked at {row[6]}")
            updated = await conn.fetchrow(
                f"UPDATE keys SET revoked_at = $1, revoked_reason = $2 WHERE kid = $3 RETURNING {KEY_COLUMNS}",
                at,
                reason,
                kid,
            )
            assert updated is not None  # the row is locked FOR UPDATE above
            key = key_of(updated)
            index = await log_size(conn)
            entry = key_entry(
                index=index,
                action="revoked",
                kid=kid,
                participant=key.participant,
                jwk_thumbprint=key.thumbprint,
                at=at,
            )
            await append_log(conn, [LogEntry(index, entry)])
        return key, index

    async def get_key(self, kid: str) -> PublicKey | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {KEY_COLUMNS} FROM keys WHERE kid = $1", kid)
        return key_of(row) if row else None

    async def list_keys(self, participant: str | None = None) -> list[PublicKey]:
        async with self._connection() as conn:
            if participant is None:
                rows = await conn.fetch(f"SELECT {KEY_COLUMNS} FROM keys ORDER BY kid")
            else:
                rows = await conn.fetch(
                    f"SELECT {KEY_COLUMNS} FROM keys WHERE participant = $1 ORDER BY kid", participant
                )
        return [key_of(r) for r in rows]

    async def add_token(self, token_hash: str, info: TokenInfo) -> None:
        async with self._connection() as conn:
            added = await conn.fetchval(
                "INSERT INTO tokens (token_hash, token_id, participant, role, label, created_at, expires_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1",
                token_hash,
                info.token_id,
                info.participant,
                info.role,
                info.label,
                info.created_at,
                info.expires_at,
            )
        if added is None:
            raise ExchangeError(Problems.ALREADY_EXISTS, f"token {info.token_id!r} already exists")

    async def find_token(self, token_hash: str) -> TokenInfo | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1", token_hash)
        return token_of(row) if row else None

    async def list_tokens(self) -> list[TokenInfo]:
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at")
        return [token_of(r) for r in rows]

    async def revoke_token(self, token_id: str, at: str) -> bool:
        async with self._connection() as conn:
            revoked = await conn.fetchval(
                "UPDATE tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL RETURNING 1",
                at,
                token_id,
            )
        return revoked is not None
