"""Queue messages on RabbitMQ: a submission as AMQP (the raw JWS bytes, metadata in headers) and back.

A message is persistent, its ``message_id`` the submission id; never pickled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractIncomingMessage,
    FieldValue,
)

from exchange import times
from exchange.identifiers import MEDIA_TYPES
from exchange.models import QueuedSubmission
from exchange.queue.port import DeadLetter

# Message headers.
PRIOR_ATTEMPTS = "prior_attempts"
REASON = "reason"
RETRY_QUEUE = "retry_queue"
DEAD_LETTER_ID = "dead_letter_id"
DEAD_AT = "dead_at"
ATTEMPTS = "attempts"
DELIVERY_COUNT = "x-delivery-count"


def _headers(message: QueuedSubmission, extra: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
    return {
        "participant": message.participant,
        "submission_id": message.submission_id,
        "kind": message.kind,
        "received_at": message.received_at,
        "jws_sha256": message.jws_sha256,
        "serialization": message.serialization,
        **extra,
    }


def to_amqp(message: QueuedSubmission, extra: Mapping[str, FieldValue] | None = None) -> aio_pika.Message:
    """The AMQP message for a submission: its exact bytes, metadata in headers, persistent."""
    return aio_pika.Message(
        message.body,
        headers=_headers(message, extra or {}),
        content_type=MEDIA_TYPES.get(message.serialization),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.submission_id,
        type="submission",
    )


def _text(headers: Mapping[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _count(headers: Mapping[str, Any], name: str) -> int:
    value = headers.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        text = _text(headers, name)
        return int(text) if text is not None and text.isdigit() else 0
    return max(0, value)


def from_amqp(message: AbstractIncomingMessage) -> QueuedSubmission | None:
    """The submission an AMQP message carries, or None when its metadata is missing or malformed."""
    headers = message.headers or {}
    fields = [_text(headers, n) for n in ("participant", "submission_id", "kind", "received_at", "jws_sha256")]
    serialization = _text(headers, "serialization")
    if any(not f for f in fields) or serialization not in MEDIA_TYPES:
        return None
    participant, submission_id, kind, received_at, jws_sha256 = cast(list[str], fields)
    return QueuedSubmission(
        participant,
        submission_id,
        kind,
        received_at,
        jws_sha256,
        serialization,
        bytes(message.body),
    )


def attempt_of(message: AbstractIncomingMessage) -> int:
    headers = message.headers or {}
    return 1 + _count(headers, DELIVERY_COUNT) + _count(headers, PRIOR_ATTEMPTS)


def dead_letter_of(message: AbstractIncomingMessage) -> DeadLetter:
    """A dead-letter queue entry: ours carry id, reason, attempts and time; the broker's carry x-death."""
    headers = message.headers or {}
    submission = from_amqp(message) or QueuedSubmission(
        _text(headers, "participant") or "",
        _text(headers, "submission_id") or message.message_id or "",
        _text(headers, "kind") or "",
        _text(headers, "received_at") or "",
        _text(headers, "jws_sha256") or "",
        "flattened",
        bytes(message.body),
    )
    ident = _text(headers, DEAD_LETTER_ID) or "broker-" + (
        message.message_id or hashlib.sha256(bytes(message.body)).hexdigest()
    )
    reason = _text(headers, REASON) or f"rejected by the broker: {_text(headers, 'x-first-death-reason') or 'unknown'}"
    dead_at = _text(headers, DEAD_AT) or _death_time(headers)
    attempts = _count(headers, ATTEMPTS) or 1 + _count(headers, PRIOR_ATTEMPTS)
    return DeadLetter(ident, submission, reason, attempts, dead_at)


def _death_time(headers: Mapping[str, Any]) -> str:
    """When the broker dead-lettered a message (its latest ``x-death`` record), or "" if unknown."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        moment = deaths[0].get("time")
        if isinstance(moment, datetime):
            return times.iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return ""


def is_stale(message: AbstractIncomingMessage) -> bool:
    """True when the channel that delivered ``message`` is gone (the broker has requeued it)."""
    try:
        return bool(message.channel.is_closed)
    except aiormq.exceptions.ChannelInvalidStateError:
        return True


# ---- the adapter --------------------------------------------------------------------------------------
