"""Receiving a submission: every gateway check of DESIGN §4, in order, then durable hand-over.

Nothing touches the queue until every check has passed; a ``202`` is returned only once the
submission is durable. The HTTP layer calls :meth:`Intake.submit` and renders what it returns or
raises. The envelope, the key, the signature and the signed fields are checked by
:func:`exchange.verification.verify_submission_async` (the same check the worker, the follower and the
auditor make); :func:`problem_of` turns each of its rules into the problem DESIGN §4 names.

Durable means recorded as received in the repository, then published to the queue (both in one
transaction where they share the embedded database): the :class:`exchange.handover.Handover` does both.
While the repository cannot be reached, a submission that passes every check the gateway can make (its key
still cached) is published anyway: the queue holds it durably and the worker records it when the
database is back (DESIGN §6: submissions wait in the queue; nothing is lost). The checks that need
the database are then left to the worker, which makes them again in any case: a stale
``base_version`` becomes a rejection, and an id already used with other bytes a dead letter with the
reason (instead of the gateway's 409). While the queue cannot be reached, the gateway answers 503
with ``Retry-After``; the client re-sends the same bytes, which is harmless.

A submission signed for an upstream this node relays to (:mod:`exchange.relay`) is checked the same way
with the upstream's keys and origin, then kept in the relay outbox instead of the queue; the ``202``
then points to the hub's status of it (``relaying``, ``forwarded`` or ``refused``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from exchange import identifiers, ijson, times
from exchange.directory import Directory
from exchange.envelope import ACK_TYP, SigningKey
from exchange.errors import ErrorItem, ExchangeError, Problems, Unavailable
from exchange.handover import Handover
from exchange.identifiers import COMPACT_MEDIA_TYPE, FLATTENED_MEDIA_TYPE
from exchange.models import QueuedSubmission, RecordKey, SubmissionState
from exchange.queue.port import SubmissionQueue
from exchange.ratelimit import RateLimiter
from exchange.relay.hub import Relay
from exchange.repository.port import Records
from exchange.sequencer import duplicate
from exchange.settings import Settings
from exchange.verification import Expected, VerificationError, VerifiedSubmission, verify_submission_async

log = logging.getLogger("exchange.intake")

#: Seconds between two warnings that submissions bypass the unreachable database.
_WARN_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class Receipt:
    """The gateway's answer to an accepted submission (``202``)."""

    location: str
    body: dict[str, Any]


class Intake:
    def __init__(
        self,
        settings: Settings,
        repository: Records,
        queue: SubmissionQueue,
        directory: Directory,
        signing_key: SigningKey,
        handover: Handover,
        relay: Relay | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.queue = queue
        self.directory = directory
        self.signing_key = signing_key
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
        self.origin = settings.public_origin
        self.handover = handover
        self.relay = relay
        self._warned_at = float("-inf")
        self._expected = Expected(audience=self.origin)
        self._created_window = (
            timedelta(seconds=settings.created_at_max_age),
            timedelta(seconds=settings.created_at_max_skew),
        )

    async def submit(self, body: bytes, media_type: str) -> Receipt:
        received = times.now()
        if len(body) > self.settings.max_body_bytes:
            raise ExchangeError(
                Problems.BODY_TOO_LARGE,
                f"the body has {len(body)} bytes; the limit is {self.settings.max_body_bytes}",
            )
        serialization = identifiers.serialization_of(media_type)
        if serialization is None:
            raise ExchangeError(
                Problems.UNSUPPORTED_MEDIA_TYPE,
                f"send {FLATTENED_MEDIA_TYPE} (flattened JWS) or {COMPACT_MEDIA_TYPE} (compact JWS)",
            )
        route = self.relay.route(body, serialization) if self.relay is not None else None
        if route is None and self.settings.mirror_of:  # a mirror that relays: only for its upstreams
            raise ExchangeError(
                Problems.FORBIDDEN,
                f"this node is a read-only mirror of {self.settings.mirror_of}: it takes submissions only to "
                "relay them (signed for the audience of an upstream it relays to)",
            )
        try:
            verified = await verify_submission_async(
                body,
                serialization,
                route.keys.key if route is not None else self.directory.key,
                received_at=received,
                expected=route.expected if route is not None else self._expected,
                created_window=self._created_window,
                max_depth=self.settings.max_json_depth,
            )
        except VerificationError as exc:
            raise problem_of(exc) from None
        message = QueuedSubmission(
            participant=verified.participant,
            submission_id=verified.submission_id,
            kind=verified.kind,
            received_at=times.iso(received),
            jws_sha256=verified.jws_sha256,
            serialization=verified.serialization,
            body=body,
        )
        wait = self.limiter.take(message.participant)
        if wait:
            raise ExchangeError(
                Problems.RATE_LIMITED,
                f"participant {message.participant} sent more than {self.settings.rate_limit:g} submissions a second",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        if route is not None and self.relay is not None:  # the upstream makes the record's checks
            entry = await self.relay.keep(route, verified, media_type, message.received_at)
            status = self.relay.status(entry)
            return Receipt(status["links"]["status"], status)
        await self.check_base_version(verified, message)
        await self.check_identifiers(verified, message)
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

    async def check_base_version(self, verified: VerifiedSubmission, message: QueuedSubmission) -> None:
        """Refuse at once a ``base_version`` that is already stale (the worker checks again, finally)."""
        base, record_id = verified.base_version, verified.record_id
        if base is None or record_id is None or not identifiers.is_record_id(record_id):
            return
        key = RecordKey(verified.owner, message.kind, record_id)
        try:
            current = await self.repository.current_version(key)
        except Unavailable:
            return  # the worker checks it when the database is back
        if (current or 0) != base:
            raise ExchangeError(
                Problems.VERSION_CONFLICT,
                f"base_version {base} is not the current version ({current or 0}) of {key}",
                errors=[ErrorItem("/base_version", "conflict:base-version", "stale base_version")],
            )

    async def check_identifiers(self, verified: VerifiedSubmission, message: QueuedSubmission) -> None:
        """Refuse at once a record whose document identifier another record of the participant holds
        (the worker checks again, finally, in the order of the log)."""
        record_id = verified.record_id
        if verified.action != "upsert" or record_id is None or not identifiers.is_record_id(record_id):
            return
        ids = identifiers.document_ids(verified.record)
        if not ids:
            return
        try:
            held = await self.repository.identifier_holders(ids)
        except Unavailable:
            return  # the worker checks it when the database is back
        key = RecordKey(verified.owner, message.kind, record_id)
        clash = duplicate(ids, identifiers.related_to(verified.record), key, held)
        if clash is not None:
            raise ExchangeError(
                Problems.DUPLICATE_IDENTIFIER,
                clash.message,
                errors=[ErrorItem("/record/identifiers", "conflict:duplicate-identifier", clash.message)],
                extra={"record": str(clash.holder), "identifier": clash.identifier},
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


#: The gateway's answer to each rule of :func:`exchange.verification.verify_submission` (DESIGN §4).
_PROBLEM_OF_RULE = {
    "jws": Problems.MALFORMED_JWS,
    "jws:header": Problems.FORBIDDEN_HEADER,
    "jws:alg-none": Problems.ALGORITHM_MISMATCH,
    "media-type": Problems.UNSUPPORTED_MEDIA_TYPE,
    "key:unknown": Problems.UNKNOWN_KEY,
    "key:not-valid": Problems.KEY_NOT_VALID,
    "alg": Problems.ALGORITHM_MISMATCH,
    "signature": Problems.BAD_SIGNATURE,
    "key:not-owned": Problems.KEY_NOT_OWNED,
}


def problem_of(exc: VerificationError) -> ExchangeError:
    """The RFC 9457 problem for a submission that does not verify."""
    if exc.rule == "i-json":
        return ExchangeError(Problems.INVALID_JSON, f"the payload is not I-JSON: {exc.message}", errors=exc.issues)
    problem = _PROBLEM_OF_RULE.get(exc.rule)
    if problem is not None:
        return ExchangeError(problem, exc.message)
    return ExchangeError(Problems.INVALID_PAYLOAD, exc.message, errors=exc.issues)
