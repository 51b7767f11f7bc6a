"""Deciding submissions: what the validation worker does with each batch it takes from the queue.

For every delivery: verify the stored JWS again (:func:`exchange.verification.verify_submission`, with
the key as it stood when the submission was received), validate the payload, and turn the result
into a :class:`Decision`: a key or signature that does not verify is a rejection the log records, a
message whose signed payload is not what its metadata says is dead-lettered. The signature is checked
once: a delivery whose bytes have the SHA-256 of a receipt the gateway
recorded (it records one only after verifying the signature) is not verified a second time; one
that has no such receipt (the gateway queued it while the database was unreachable, or the message
did not come from a gateway) is. The batch is then sequenced and committed in one transaction, and
only after that acknowledged (in that same transaction, where the queue is the embedded one in the
repository's database file). A message that cannot even be read is dead-lettered; so is one whose
submission id already holds other bytes. A transient fault (the database is down) sends the batch
back to the queue with a growing delay, and dead-letters a message after its last attempt; the
worker then waits for the database before it takes more (see :mod:`workers.validate`), so an outage
costs the messages in hand one attempt and leaves the others waiting in the queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from exchange import identifiers, times
from exchange.content import content_sha256
from exchange.directory import Directory
from exchange.envelope import sha256_hex
from exchange.errors import Unavailable
from exchange.handover import Handover
from exchange.models import Action, Decision, Endorsement, QueuedSubmission, RecordKey, Review, SubmissionState
from exchange.queue.port import Delivery, SubmissionQueue
from exchange.repository.port import Repository
from exchange.settings import Settings
from exchange.validation import Validator
from exchange.validation.issues import Issue
from exchange.validation.scope import REVIEW_ACTIONS
from exchange.verification import Expected, VerificationError, VerifiedSubmission, verify_submission_async
from exchange.visibility import named_readers, signed_visibility

log = logging.getLogger("exchange.worker")


class PoisonMessage(Exception):
    """The message cannot be processed at all; it belongs in the dead-letter queue."""


def _issue(pointer: str, rule: str, message: str) -> dict[str, str]:
    return {"pointer": pointer, "rule": rule, "message": message}


def _refused(message: QueuedSubmission, kid: str, payload_sha: str, pointer: str, rule: str, text: str) -> Decision:
    """The rejection of a verified submission for one reason."""
    return Decision(message, kid, payload_sha, errors=(_issue(pointer, rule, text),))


@dataclass
class Processor:
    settings: Settings
    repository: Repository  # submissions, and the versions an endorsement names
    queue: SubmissionQueue
    directory: Directory
    validator: Validator
    #: Records decisions and settles their deliveries (in one transaction where the queue lives in the
    #: repository's database).
    handover: Handover
    on_commit: Callable[[int], None] | None = None

    async def judge(self, message: QueuedSubmission, *, verified_on_receipt: bool = False) -> Decision:
        """Verify and validate one submission. Raises :class:`PoisonMessage` when it is unreadable.

        ``verified_on_receipt``: the gateway recorded a receipt for exactly these bytes (same SHA-256)
        after checking their signature, so it is not checked a second time; everything else is.
        """
        if sha256_hex(message.body) != message.jws_sha256:
            raise PoisonMessage("the message body does not match its jws_sha256")
        try:
            verified = await verify_submission_async(
                message.body,
                message.serialization,
                self.directory.key,
                received_at=times.parse(message.received_at),
                expected=Expected(participant=message.participant, submission_id=message.submission_id),
                max_depth=self.settings.max_json_depth,
                verified_on_receipt=verified_on_receipt,
            )
        except VerificationError as exc:
            return _rejected(message, exc)
        payload_sha = verified.payload_sha256
        scope = await self.directory.scope(message.participant)
        if scope is None:
            return _refused(
                message,
                verified.kid,
                payload_sha,
                "/participant",
                "participant:unknown",
                f"participant {message.participant} is not registered",
            )
        owner = await self.directory.scope(verified.on_behalf_of) if verified.on_behalf_of else None
        issues = self.validator.validate_payload(verified.document, scope, owner)
        issues += [
            Issue(f"/readers/{n}", "participant:unknown", f"reader {name[:80]} is not a registered participant")
            for n, name in enumerate(named_readers(verified.document))
            if await self.directory.scope(name) is None
        ]
        if issues:
            return Decision(message, verified.kid, payload_sha, errors=tuple(i.as_dict() for i in issues))
        if verified.action in REVIEW_ACTIONS:
            return await self._review(message, verified, payload_sha)
        if verified.action == "endorse":
            return await self._endorse(message, verified, payload_sha)
        decision = _accepted(message, verified, payload_sha, self.validator)
        if self.settings.under_review(message.participant, message.kind):
            decision = dataclasses.replace(decision, held=True)
        return decision

    async def _endorse(self, message: QueuedSubmission, verified: VerifiedSubmission, payload_sha: str) -> Decision:
        """A participant's endorsement of a version of its own record: the version must exist and have
        been published from the JWS it names (versions never change, so this holds at commit too)."""
        named = verified.document["endorse"]
        key = RecordKey(message.participant, message.kind, str(verified.record_id))
        version = await self.repository.get_version(key, named["version"])
        if version is None or version.jws_sha256 != named["jws_sha256"]:
            what = "has no such version" if version is None else "was published from other bytes"
            what = f"{key} version {named['version']}: {what}"
            return _refused(message, verified.kid, payload_sha, "/endorse", "endorse:not-found", what)
        return Decision(
            message, verified.kid, payload_sha, record=key, endorse=Endorsement(version.version, version.jws_sha256)
        )

    async def _review(self, message: QueuedSubmission, verified: VerifiedSubmission, payload_sha: str) -> Decision:
        """An editor's approve or return of a submission held for review.

        An approval judges the reviewed submission again from its stored bytes (its signature with the
        key as it stood when it was received, its record against the schemas now): the sequencer then
        applies it as if it were accepted at the approval's place in the log. Whether the reviewed
        submission is still pending is decided by the sequencer, inside its transaction.
        """
        named = verified.document["review"]
        review = Review(
            action="approve" if verified.action == "approve" else "return",
            participant=named["participant"],
            submission_id=str(named["submission_id"]).lower(),
            jws_sha256=named["jws_sha256"],
            comments=verified.document.get("comments"),
        )
        if review.action == "approve":
            state = await self.repository.get_submission(review.participant, review.submission_id)
            stored = await self.repository.get_submission_body(review.participant, review.submission_id)
            if state is not None and stored is not None and state.jws_sha256 == review.jws_sha256 and state.kind:
                body, serialization = stored
                reviewed = QueuedSubmission(
                    participant=state.participant,
                    submission_id=state.submission_id,
                    kind=state.kind,
                    received_at=state.received_at,
                    jws_sha256=state.jws_sha256,
                    serialization="compact" if serialization == "compact" else "flattened",
                    body=body,
                )
                try:
                    judged = await self.judge(reviewed)
                except PoisonMessage as exc:
                    judged = Decision(
                        reviewed,
                        state.kid or "",
                        state.payload_sha256 or "",
                        errors=(
                            _issue("/review", "review:unreadable", f"the reviewed submission cannot be read: {exc}"),
                        ),
                    )
                if judged.errors:
                    return Decision(message, verified.kid, payload_sha, errors=judged.errors)
                if judged.record is not None and judged.record.kind != message.kind:
                    return _refused(
                        message,
                        verified.kid,
                        payload_sha,
                        "/kind",
                        "review:kind",
                        f"the reviewed submission is a {judged.record.kind}, not a {message.kind}",
                    )
                review = dataclasses.replace(review, decision=dataclasses.replace(judged, held=False))
        return Decision(message, verified.kid, payload_sha, review=review)

    async def process(self, deliveries: Sequence[Delivery]) -> list[SubmissionState]:
        """Decide, commit, then acknowledge one batch of deliveries (committing and acknowledging in one
        transaction where the queue lives in the repository's database).

        Raises :class:`Unavailable` when the repository cannot be reached (while judging or committing):
        the batch has then been handed back for a delayed retry, each delivery counting one attempt,
        and the caller should wait until the repository answers before it takes more work.
        """
        decisions: list[Decision] = []
        kept: list[Delivery] = []
        dead: set[int] = set()
        try:
            receipts = await self.repository.get_submissions(
                [(d.message.participant, d.message.submission_id) for d in deliveries]
            )
            for n, delivery in enumerate(deliveries):
                message = delivery.message
                receipt = receipts.get((message.participant, message.submission_id))
                verified = (
                    receipt is not None and receipt.status == "received" and receipt.jws_sha256 == message.jws_sha256
                )
                try:
                    decisions.append(await self.judge(message, verified_on_receipt=verified))
                    kept.append(delivery)
                except PoisonMessage as exc:
                    log.warning(
                        "dead-lettering submission",
                        extra={"submission_id": delivery.message.submission_id, "reason": str(exc)},
                    )
                    await self.queue.dead_letter(delivery, str(exc))
                    dead.add(n)
                if n % 32 == 31:
                    await asyncio.sleep(0)  # let the event loop serve requests between chunks of CPU work
            states = await self._commit(kept, decisions) if decisions else []
        except Unavailable as exc:
            for n, delivery in enumerate(deliveries):
                if n not in dead:
                    await self._retry(delivery, str(exc))
            raise
        theirs = [s.jws_sha256 == d.message.jws_sha256 for d, s in zip(kept, states, strict=True)]
        for delivery, state, ok in zip(kept, states, theirs, strict=True):
            if not ok:
                self._conflict(delivery, state)
        seqs = [s.seq for s in states if s.seq is not None]
        if seqs and self.on_commit is not None:
            self.on_commit(max(seqs))
        return [s for s, ok in zip(states, theirs, strict=True) if ok]

    async def _commit(self, kept: list[Delivery], decisions: list[Decision]) -> list[SubmissionState]:
        """Record the decisions, acknowledge their deliveries and dead-letter the conflicts (see :meth:`_conflict`)."""
        return await self.handover.settle(kept, decisions, conflict_reason)

    def _conflict(self, delivery: Delivery, state: SubmissionState) -> None:
        """The submission id already holds other bytes: refuse these, visibly (the 409 the gateway would give).

        The gateway checks this itself, except while the database is unreachable, when it hands the
        submission straight to the queue. The stored submission keeps its outcome; these bytes are
        dead-lettered with the reason by the hand-over (in the decision's own transaction, where the queue
        shares the repository's database), and never decided, logged or applied.
        """
        message = delivery.message
        reason = conflict_reason(message, state)
        log.warning(
            "refusing a submission that reuses an id with other content",
            extra={"submission_id": message.submission_id, "reason": reason},
        )

    async def _retry(self, delivery: Delivery, reason: str) -> None:
        if delivery.attempt >= self.settings.retry_max_attempts:
            await self.queue.dead_letter(delivery, f"gave up after {delivery.attempt} attempts: {reason}")
            return
        delay = self.settings.retry_delay * 2 ** (delivery.attempt - 1)
        await self.queue.retry(delivery, reason, delay)


def conflict_reason(message: QueuedSubmission, state: SubmissionState) -> str:
    """Why a delivery whose submission id already holds other bytes is refused (its dead letter's reason)."""
    return (
        f"conflict: submission_id {message.submission_id} was already used by {message.participant} with "
        f"other content (jws_sha256 {state.jws_sha256}, not {message.jws_sha256}); choose a new submission_id"
    )


#: Rules that reject the submission (a verdict the log records); every other rule makes the message unusable.
_REJECTION_RULE = {"key:unknown": "key:unknown", "key:not-valid": "key:not-valid", "alg": "signature"}
_REJECTION_RULE |= {"signature": "signature", "i-json": "i-json"}
_REJECTING_FIELDS = frozenset({"schema:format", "schema:enum", "created-at-window"})


def _rejected(message: QueuedSubmission, exc: VerificationError) -> Decision:
    """The verdict on a submission that does not verify; raises :class:`PoisonMessage` when it is unreadable."""
    kid, payload_sha = exc.kid, exc.payload_sha256
    if kid is None or payload_sha is None:
        raise PoisonMessage(f"stored JWS unreadable: {exc.message}")
    rule = _REJECTION_RULE.get(exc.rule)
    if rule is not None:
        return Decision(message, kid, payload_sha, errors=(_issue(exc.pointer, rule, exc.message),))
    if exc.rule in _REJECTING_FIELDS:
        return Decision(message, kid, payload_sha, errors=tuple(i.as_dict() for i in exc.issues))
    if exc.rule == "schema:type":
        raise PoisonMessage("the payload is not a JSON object")
    raise PoisonMessage("the message metadata does not match its signed payload")


def _accepted(
    message: QueuedSubmission, verified: VerifiedSubmission, payload_sha: str, validator: Validator
) -> Decision:
    # The record validator has passed: action, schema and record_id are as the submission schema requires.
    action: Action = "withdraw" if verified.action == "withdraw" else "upsert"
    record: dict[str, Any] = verified.record or {}
    visibility, readers = signed_visibility(verified.document, verified.owner, verified.participant)
    return Decision(
        submission=message,
        kid=verified.kid,
        payload_sha256=payload_sha,
        record=RecordKey(verified.owner, message.kind, str(verified.record_id)),
        action=action,
        schema=str(verified.schema),
        content=orjson.dumps(record) if action == "upsert" else None,
        content_sha256=content_sha256(str(verified.schema), record, visibility, readers)
        if action == "upsert"
        else None,
        base_version=verified.base_version,
        index=validator.index_fields(message.kind, record) if action == "upsert" else None,
        related=identifiers.related_to(record),
        visibility=visibility,
        readers=readers,
    )
