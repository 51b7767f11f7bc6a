"""Rows to domain objects and back: the column lists and converters the PostgreSQL modules share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import orjson

from exchange import times
from exchange.keys import PublicKey
from exchange.models import (
    Change,
    DeliveryAttempt,
    Participant,
    RecordKey,
    RecordVersion,
    StoredCheckpoint,
    SubmissionState,
    TokenInfo,
)

SUBMISSION_COLUMNS = (
    "participant, submission_id, jws_sha256, received_at, status, kind, kid, errors, record, version, "
    "seq, log_index, decided_at, payload_sha256"
)
VERSION_COLUMNS = (
    "participant, kind, record_id, version, action, schema, content, submission_id, kid, jws_sha256, "
    "received_at, accepted_at, log_index, seq"
)
KEY_COLUMNS = "kid, participant, alg, jwk, valid_from, valid_until, revoked_at, revoked_reason, added_at"
TOKEN_COLUMNS = "token_id, participant, role, label, created_at, revoked_at"  # noqa: S105 (column names)
PARTICIPANT_COLUMNS = "id, name, type, jurisdictions, created_at"
DELIVERY_COLUMNS = "subscription_id, seq, webhook_id, attempt, at, status_code, latency_ms, error"
CHANGE_COLUMNS = (
    "c.seq, c.action, c.participant, c.kind, c.record_id, c.version, c.log_index, c.submission_id, c.kid, "
    "c.received_at, c.jurisdiction"
)


def state_of(row: asyncpg.Record) -> SubmissionState:
    return SubmissionState(
        participant=row[0],
        submission_id=row[1],
        jws_sha256=row[2],
        received_at=row[3],
        status=row[4],
        kind=row[5],
        kid=row[6],
        errors=orjson.loads(row[7]) if row[7] else [],
        record=row[8],
        version=row[9],
        seq=row[10],
        log_index=row[11],
        decided_at=row[12],
        payload_sha256=row[13],
    )


def version_of(row: asyncpg.Record) -> RecordVersion:
    return RecordVersion(
        key=RecordKey(row[0], row[1], row[2]),
        version=row[3],
        action=row[4],
        schema=row[5],
        content=orjson.loads(row[6]) if row[6] is not None else None,
        submission_id=row[7],
        kid=row[8],
        jws_sha256=row[9],
        received_at=row[10],
        accepted_at=row[11],
        log_index=row[12],
        seq=row[13],
    )


def key_of(row: asyncpg.Record) -> PublicKey:
    return PublicKey(
        kid=row[0],
        participant=row[1],
        alg=row[2],
        jwk=orjson.loads(row[3]),
        valid_from=times.parse(row[4]),
        valid_until=times.parse(row[5]) if row[5] else None,
        revoked_at=times.parse(row[6]) if row[6] else None,
        revoked_reason=row[7],
        added_at=times.parse(row[8]),
    )


def participant_of(row: asyncpg.Record) -> Participant:
    return Participant(row[0], row[1], row[2], tuple(orjson.loads(row[3])), row[4])


def token_of(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(row[0], row[1], row[2], row[3], row[4], row[5])


def delivery_of(row: asyncpg.Record) -> DeliveryAttempt:
    return DeliveryAttempt(row[0], row[1], row[2], row[3], row[4], row[5], float(row[6]), row[7])


def change_of(row: asyncpg.Record) -> Change:
    return Change(
        seq=row[0],
        action=row[1],
        key=RecordKey(row[2], row[3], row[4]),
        version=row[5],
        log_index=row[6],
        submission_id=row[7],
        kid=row[8],
        received_at=row[9],
        jurisdiction=row[10],
        content=orjson.loads(row[11]) if row[11] is not None else None,
        jws=bytes(row[12]).decode() if row[12] is not None else None,
    )


def checkpoint_of(row: asyncpg.Record) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], row[3])


def as_columns(rows: Iterable[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows turned into ``width`` column lists, for ``unnest($1::type[], …)``."""
    out: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(out, row, strict=True):
            column.append(value)
    return out
