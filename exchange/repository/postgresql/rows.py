"""Rows to domain objects and back: the column lists and converters the PostgreSQL modules share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import orjson

from exchange.models import (
    Change,
    DeliveryAttempt,
    RecordKey,
    StoredCheckpoint,
)
from exchange.repository.common import (  # shared with the SQLite adapter, re-exported here
    KEY_COLUMNS as KEY_COLUMNS,
)
from exchange.repository.common import (
    PARTICIPANT_COLUMNS as PARTICIPANT_COLUMNS,
)
from exchange.repository.common import (
    SUBMISSION_COLUMNS as SUBMISSION_COLUMNS,
)
from exchange.repository.common import (
    TOKEN_COLUMNS as TOKEN_COLUMNS,
)
from exchange.repository.common import (
    VERSION_COLUMNS as VERSION_COLUMNS,
)
from exchange.repository.common import (
    key_of as key_of,
)
from exchange.repository.common import (
    participant_of as participant_of,
)
from exchange.repository.common import (
    state_of as state_of,
)
from exchange.repository.common import (
    token_of as token_of,
)
from exchange.repository.common import (
    version_of as version_of,
)

DELIVERY_COLUMNS = "subscription_id, seq, webhook_id, attempt, at, status_code, latency_ms, error"
CHANGE_COLUMNS = (
    "c.seq, c.action, c.participant, c.kind, c.record_id, c.version, c.log_index, c.submission_id, c.kid, "
    "c.received_at, c.jurisdiction"
)


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
