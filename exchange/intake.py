"""Receiving a submission: every gateway check of DESIGN §4, in order, then durable hand-over.

Nothing touches the queue until every check has passed; a ``202`` is returned only once the
submission is durable. The HTTP layer calls :meth:`Intake.submit` and renders what it returns or
raises.

Durable means recorded as received in the repository, then published to the queue (both in one
transaction where they share the embedded database): the :class:`exchange.handover.Handover` does both.
While the repository cannot be reached, a submission that passes every check the gateway can make (its key
still cached) is published anyway: the queue holds it durably and the worker records it when the
database is back (DESIGN §6: submissions wait in the queue; nothing is lost). The checks that need
the database are then left to the worker, which makes them again in any case: a stale
``base_version`` becomes a rejection, and an id already used with other bytes a dead letter with the
reason (instead of the gateway's 409). While the queue cannot be reached, the gateway answers 503
with ``Retry-After``; the client re-sends the same bytes, which is harmless.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exchange import envelope, ijson, times
from exchange.directory import Directory
from exchange.envelope import ACK_TYP, SigningKey, UnverifiedJWS, sha256_hex
from exchange.errors import ErrorItem, ExchangeError, Problems, Unavailable
from exchange.handover import Handover
from exchange.models import KINDS, QueuedSubmission, RecordKey, SubmissionState
from exchange.queue.port import SubmissionQueue
from exchange.ratelimit import RateLimiter
from exchange.repository.port import Records
from exchange.settings import Settings

log = logging.getLogger("exchange.intake")

#: Seconds between two warnings that submissions bypass the unreachable database.
_WARN_EVERY = 10.0

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Receipt:
    """The gateway's answer to an accepted submission (``202``)."""

    location: str
    body: dict[str, Any]


def _unprocessable(errors: list[ErrorItem]) -> ExchangeError:
    detail = errors[0].message if len(errors) == 1 else f"{len(errors)} problems with the payload"
    return ExchangeError(Problems.INVALID_PAYLOAD, detail, errors=errors)


class Intake:
    def __init__(
        self,
        settings: Settings,
        repository: Records,
        queue: SubmissionQueue,
        directory: Directory,
        signing_key: SigningKey,
        handover: Handover,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.queue = queue
        self.directory = directory
        self.signing_key = signing_key
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
        self.origin = settings.public_origin
        self.handover = handover
        self._warned_at = float("-inf")

    async def submit(self, body: bytes, media_type: str) -> Receipt:
        received = times.now()
        if len(body) > self.settings.max_body_bytes:
            raise ExchangeError(
                Problems.BODY_TOO_LARGE,
                f"the body has {len(body)} bytes; the limit is {self.settings.max_body_bytes}",
            )
        jws = envelope.parse(body, media_type)
        payload = await self.verify(jws, received)
        message = self.check_payload(payload, jws, body, received)
        wait = self.limiter.take(message.participant)
        if wait:
            raise ExchangeError(
                Problems.RATE_LIMITED,
                f"participant {message.participant} sent more than {self.settings.rate_limit:g} submissions a second",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        await self.check_base_version(payload, message)
        try:
            [prior] = await self.handover.receive([message])  # recorded and queued
        except Unavailable as exc:
            self._warn_bypass(exc)
            await self.queue.publish([message])  # the worker records it (and checks for a conflict) later
            prior = None
        if prior is not None:
            if prior.jws_sha256 != message.jws_sha256:
                raise ExchangeError(
                    Problems.SUBMISSION_CONFLICT,
                    f"submission_id {message.submission_id} was already used by {message.participant} "
                    "with other content; choose a new submission_id",
                )
            if prior.status == "received":
                await self.queue.publish([message])  # it may not have reached the queue the first time
            return self.receipt(prior)
        return self.receipt(
            SubmissionState(
                message.participant,
                message.submission_id,
                message.jws_sha256,
                message.received_at,
                "received",
            )
        )

    async def verify(self, jws: UnverifiedJWS, received: datetime) -> Any:
        key = await self.directory.key(jws.kid)
        if key is None:
            raise ExchangeError(Problems.UNKNOWN_KEY, f"no key {jws.kid!r} is registered")
        status = key.status_at(received)
        if status != "valid":
            raise ExchangeError(Problems.KEY_NOT_VALID, f"key {jws.kid!r} is {status.replace('_', ' ')}")
        payload_bytes = jws.verify(key)
        try:
            payload = ijson.loads(payload_bytes, max_depth=self.settings.max_json_depth)
        except ijson.IJSONError as exc:
            raise ExchangeError(
                Problems.INVALID_JSON,
                f"the payload is not I-JSON: {exc}",
                errors=[ErrorItem(exc.pointer, "i-json", str(exc))],
            ) from None
        if not isinstance(payload, dict):
            raise _unprocessable([ErrorItem("", "schema:type", "the payload must be a JSON object")])
        if payload.get("participant") != key.participant:
            raise ExchangeError(
                Problems.KEY_NOT_OWNED,
                f"key {key.kid!r} belongs to {key.participant}, not to {payload.get('participant')!r}",
            )
        return payload

    def check_payload(
        self, payload: dict[str, Any], jws: UnverifiedJWS, body: bytes, received: datetime
    ) -> QueuedSubmission:
        errors: list[ErrorItem] = []
        sid = payload.get("submission_id")
        if not isinstance(sid, str) or not _UUID.match(sid):
            errors.append(ErrorItem("/submission_id", "schema:format", "submission_id must be a UUID"))
        if payload.get("audience") != self.origin:
            errors.append(
                ErrorItem(
                    "/audience",
                    "audience",
                    f"audience {payload.get('audience')!r} is not this repository ({self.origin})",
                )
            )
        created = payload.get("created_at")
        try:
            created_at = times.parse(created) if isinstance(created, str) else None
        except ValueError:
            created_at = None
        if created_at is None:
            errors.append(ErrorItem("/created_at", "schema:format", "created_at must be an RFC 3339 date-time"))
        elif created_at < received - timedelta(seconds=self.settings.created_at_max_age):
            errors.append(
                ErrorItem(
                    "/created_at",
                    "created-at-window",
                    f"created_at {created} is older than {self.settings.created_at_max_age} seconds",
                )
            )
        elif created_at > received + timedelta(seconds=self.settings.created_at_max_skew):
            errors.append(ErrorItem("/created_at", "created-at-window", f"created_at {created} lies in the future"))
        kind = payload.get("kind")
        if kind not in KINDS:
            errors.append(ErrorItem("/kind", "schema:enum", f"kind must be one of {', '.join(KINDS)}"))
        if errors:
            raise _unprocessable(errors)
        return QueuedSubmission(
            participant=str(payload["participant"]),
            submission_id=str(sid).lower(),
            kind=str(kind),
            received_at=times.iso(received),
            jws_sha256=sha256_hex(body),
            serialization=jws.serialization,
            body=body,
        )

    async def check_base_version(self, payload: dict[str, Any], message: QueuedSubmission) -> None:
        """Refuse at once a ``base_version`` that is already stale (the worker checks again, finally)."""
        base = payload.get("base_version")
        record_id = payload.get("record_id")
        if not isinstance(base, int) or isinstance(base, bool) or not isinstance(record_id, str):
            return
        if not _RECORD_ID.match(record_id):
            return
        try:
            current = await self.repository.current_version(RecordKey(message.participant, message.kind, record_id))
        except Unavailable:
            return  # the worker checks it when the database is back
        if (current or 0) != base:
            raise ExchangeError(
                Problems.VERSION_CONFLICT,
                f"base_version {base} is not the current version ({current or 0}) of "
                f"{message.participant}/{message.kind}/{record_id}",
                errors=[ErrorItem("/base_version", "conflict:base-version", "stale base_version")],
            )

    def _warn_bypass(self, exc: Unavailable) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning(
                "the database is unavailable: queueing submissions for the workers to record",
                extra={"reason": exc.detail},
            )

    def receipt(self, state: SubmissionState) -> Receipt:
        ack_payload = {
            "submission_id": state.submission_id,
            "participant": state.participant,
            "jws_sha256": state.jws_sha256,
            "received_at": state.received_at,
            "audience": self.origin,
        }
        ack = self.signing_key.sign_jws(ijson.dumps(ack_payload), typ=ACK_TYP)
        location = f"/v1/submissions/{state.participant}/{state.submission_id}"
        body = {**state.as_dict(), "acknowledgment": ack, "links": {"status": location}}
        return Receipt(location, body)


def new_submission_id() -> str:
    return str(uuid.uuid4())
