"""Verifying a submission: the one check between signed bytes and anything that reads them.

The gateway (on receipt), the validation worker (from the queue), the follower (a change of the feed)
and the auditor (a stored submission of an audit export) all need the same answer to the same
question: do these JWS bytes carry a payload that the key registered under their ``kid`` signed, with
the algorithm bound to that key, while the key was valid, that is I-JSON, a JSON object, by the key's
owner, and about what the caller expected? :func:`verify_submission` answers it and returns a
:class:`VerifiedSubmission` holding only what it proved; the payload is never readable otherwise (as
in sigstore's ``verify_dsse``: the verifier hands back the payload it verified). Each failure is one
:class:`VerificationError` with a stable ``rule``, a JSON pointer where one applies and a message;
each caller translates it into its own form (a problem, a rejection, an inconsistency, a finding).

Keys come from a :data:`KeyLookup` (a callable from kid to key): the gateway's directory of the
registry, or a key directory fetched from ``GET /v1/keys``. The module imports no server part, so the
connectors share it (DESIGN §13). Sources that must be awaited use :func:`verify_submission_async`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exchange import envelope, ijson, times
from exchange.errors import ErrorItem, ExchangeError, Problems
from exchange.identifiers import KINDS, MEDIA_TYPES, Serialization, is_uuid, record_key
from exchange.publickeys import PublicKey

__all__ = [
    "ENVELOPE_RULES",
    "KEY_RULES",
    "AsyncKeyLookup",
    "Expected",
    "KeyLookup",
    "VerificationError",
    "VerifiedSubmission",
    "verify_submission",
    "verify_submission_async",
]

#: A key source: the key registered under a kid, or None.
KeyLookup = Callable[[str], PublicKey | None]
#: A key source that must be awaited (the gateway's cached registry).
AsyncKeyLookup = Callable[[str], Awaitable[PublicKey | None]]

#: Rules of a JWS that cannot even be read (before any key is looked up).
ENVELOPE_RULES = frozenset({"jws", "jws:header", "jws:alg-none", "media-type"})
#: Rules about the key or the signature itself.
KEY_RULES = frozenset({"key:unknown", "key:not-valid", "alg", "signature"})
_ENVELOPE_RULE_OF = {
    Problems.MALFORMED_JWS.slug: "jws",
    Problems.FORBIDDEN_HEADER.slug: "jws:header",
    Problems.ALGORITHM_MISMATCH.slug: "jws:alg-none",
    Problems.UNSUPPORTED_MEDIA_TYPE.slug: "media-type",
}


class VerificationError(Exception):
    """A submission that does not verify: the ``rule`` it broke, where (``pointer``) and why (``message``).

    Rules: ``jws``, ``jws:header``, ``jws:alg-none``, ``media-type`` (the envelope cannot be read);
    ``kid`` (another key than expected); ``key:unknown``; ``key:not-valid`` (not yet valid, expired or
    revoked when received); ``alg`` (the header's alg is not the key's); ``signature``; ``i-json``;
    ``schema:type`` (the payload is not an object); ``key:not-owned`` (the payload's participant does
    not own the key); ``participant`` and ``submission-id`` (not the ones expected); ``schema:format``,
    ``schema:enum``, ``audience``, ``created-at-window`` (the signed fields; all found are in
    ``issues``); ``record`` (kind, record id or action not the ones expected).

    ``kid`` and :attr:`payload_sha256` describe the bytes when the envelope could be read: facts about
    the bytes (a rejection records them), not signs that they are genuine.
    """

    def __init__(
        self,
        rule: str,
        message: str,
        pointer: str = "",
        *,
        issues: Sequence[ErrorItem] = (),
        jws: envelope.UnverifiedJWS | None = None,
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.pointer = pointer
        self.issues: tuple[ErrorItem, ...] = tuple(issues) or (ErrorItem(pointer, rule, message),)
        self._jws = jws

    @property
    def kid(self) -> str | None:
        return self._jws.kid if self._jws is not None else None

    @property
    def payload_sha256(self) -> str | None:
        return self._jws.payload_sha256 if self._jws is not None else None


@dataclass(frozen=True, slots=True)
class Expected:
    """What the caller knows the submission must be; None leaves a field unchecked."""

    kid: str | None = None
    participant: str | None = None
    submission_id: str | None = None
    audience: str | None = None
    kind: str | None = None
    record_id: str | None = None
    action: str | None = None


_ANYTHING = Expected()


@dataclass(frozen=True, slots=True)
class VerifiedSubmission:
    """A submission whose signature, key and signed identity verified; the payload it proved.

    ``participant``, ``submission_id`` (lower case), ``kind`` and ``created_at`` are checked;
    ``record_id``, ``action``, ``schema``, ``base_version`` and ``record`` are as signed when they have
    their type (None otherwise): the record schemas judge them, with a pointer for each fault.
    """

    participant: str
    submission_id: str
    kid: str
    key: PublicKey
    kind: str
    record_id: str | None
    action: str | None
    schema: str | None
    base_version: int | None
    record: Any
    audience: Any
    created_at: datetime
    received_at: datetime
    serialization: Serialization
    body: bytes
    payload_bytes: bytes
    #: The signed payload as parsed (a JSON object), for the record validator.
    document: dict[str, Any]
    #: False only on the fast path for bytes the gateway verified on receipt.
    signature_checked: bool
    #: An editor's entry for this participant (who then owns the record), as signed; None otherwise.
    on_behalf_of: str | None = None

    @property
    def owner(self) -> str:
        """The participant whose record this is: the one named ``on_behalf_of``, else the signer."""
        return self.on_behalf_of or self.participant

    @property
    def jws_sha256(self) -> str:
        """Hex SHA-256 of the exact JWS bytes (computed when asked: the hot path asks once)."""
        return hashlib.sha256(self.body).hexdigest()

    @property
    def payload_sha256(self) -> str:
        return hashlib.sha256(self.payload_bytes).hexdigest()

    @property
    def record_key(self) -> str:
        """``<owner>/<kind>/<record_id>`` as signed."""
        return record_key(self.owner, self.kind, str(self.record_id))


def verify_submission(
    body: bytes,
    serialization: Serialization,
    keys: KeyLookup,
    *,
    received_at: datetime,
    expected: Expected = _ANYTHING,
    created_window: tuple[timedelta, timedelta] | None = None,
    max_depth: int = 32,
    verified_on_receipt: bool = False,
) -> VerifiedSubmission:
    """Verify the JWS ``body`` with the key ``keys`` returns for its kid, as it stood at ``received_at``.

    ``expected`` names what the caller already knows (the change, the log entry, the queued message);
    ``created_window`` (maximum age, maximum skew) bounds ``created_at`` around ``received_at``.
    ``verified_on_receipt``: the gateway recorded a receipt for exactly these bytes (same SHA-256) after
    checking their signature, so it is not checked again; everything else still is, the algorithm
    included. Raises :class:`VerificationError`.
    """
    jws = _open(body, serialization, expected)
    return _verify(
        jws,
        body,
        keys(jws.kid),
        received_at,
        expected,
        created_window,
        max_depth,
        verified_on_receipt=verified_on_receipt,
    )


async def verify_submission_async(
    body: bytes,
    serialization: Serialization,
    keys: AsyncKeyLookup,
    *,
    received_at: datetime,
    expected: Expected = _ANYTHING,
    created_window: tuple[timedelta, timedelta] | None = None,
    max_depth: int = 32,
    verified_on_receipt: bool = False,
) -> VerifiedSubmission:
    """:func:`verify_submission` with a key source that must be awaited; its faults (``Unavailable``) pass through."""
    jws = _open(body, serialization, expected)
    key = await keys(jws.kid)
    return _verify(
        jws, body, key, received_at, expected, created_window, max_depth, verified_on_receipt=verified_on_receipt
    )


def _open(body: bytes, serialization: Serialization, expected: Expected) -> envelope.UnverifiedJWS:
    try:
        jws = envelope.parse(body, MEDIA_TYPES[serialization])
    except ExchangeError as exc:
        raise VerificationError(_ENVELOPE_RULE_OF.get(exc.problem.slug, "jws"), exc.detail) from None
    if expected.kid is not None and jws.kid != expected.kid:
        raise VerificationError("kid", f"the JWS header names key {jws.kid!r}, not {expected.kid!r}", jws=jws)
    return jws


def _verify(
    jws: envelope.UnverifiedJWS,
    body: bytes,
    key: PublicKey | None,
    received_at: datetime,
    expected: Expected,
    created_window: tuple[timedelta, timedelta] | None,
    max_depth: int,
    *,
    verified_on_receipt: bool,
) -> VerifiedSubmission:
    kid = jws.kid
    if key is None:
        raise VerificationError("key:unknown", f"no key {kid!r} is registered", jws=jws)
    status = key.status_at(received_at)
    if status != "valid":
        what = status.replace("_", " ")
        raise VerificationError("key:not-valid", f"key {kid} was {what} when the submission was received", jws=jws)
    if verified_on_receipt and key.accepts(jws.alg):
        payload_bytes = jws.payload_verified_on_receipt()
    else:
        try:
            payload_bytes = jws.verify(key)
        except ExchangeError as exc:
            rule = "alg" if exc.problem is Problems.ALGORITHM_MISMATCH else "signature"
            raise VerificationError(rule, exc.detail, jws=jws) from None
    try:
        payload = ijson.loads(payload_bytes, max_depth=max_depth)
    except ijson.IJSONError as exc:
        raise VerificationError("i-json", str(exc), exc.pointer, jws=jws) from None
    if not isinstance(payload, dict):
        raise VerificationError("schema:type", "the payload must be a JSON object", jws=jws)
    participant = payload.get("participant")
    if participant != key.participant:
        raise VerificationError(
            "key:not-owned",
            f"key {kid!r} belongs to {key.participant}, not to {participant!r}",
            "/participant",
            jws=jws,
        )
    if expected.participant is not None and participant != expected.participant:
        raise VerificationError(
            "participant",
            f"the signed payload is by participant {participant!r}, not {expected.participant!r}",
            "/participant",
            jws=jws,
        )
    sid = payload.get("submission_id")
    if expected.submission_id is not None and str(sid or "").lower() != expected.submission_id.lower():
        raise VerificationError(
            "submission-id",
            f"the signed payload is submission {sid!r}, not {expected.submission_id!r}",
            "/submission_id",
            jws=jws,
        )
    issues: list[ErrorItem] = []
    if not is_uuid(sid):
        issues.append(ErrorItem("/submission_id", "schema:format", "submission_id must be a UUID"))
    audience = payload.get("audience")
    if expected.audience is not None and audience != expected.audience:
        issues.append(
            ErrorItem(
                "/audience",
                "audience",
                f"the payload is signed for audience {audience!r}, not this repository ({expected.audience})",
            )
        )
    created = payload.get("created_at")
    created_at = _created_at(created, received_at, created_window, issues)
    kind = payload.get("kind")
    if kind not in KINDS:
        issues.append(ErrorItem("/kind", "schema:enum", f"kind must be one of {', '.join(KINDS)}"))
    if issues:
        first = issues[0]
        message = first.message if len(issues) == 1 else f"{len(issues)} problems with the payload"
        raise VerificationError(first.rule, message, first.pointer, issues=issues, jws=jws)
    for name in ("kind", "record_id", "action"):
        want = getattr(expected, name)
        if want is not None and payload.get(name) != want:
            raise VerificationError(
                "record", f"the signed payload has {name} {payload.get(name)!r}, not {want!r}", f"/{name}", jws=jws
            )
    assert created_at is not None and isinstance(sid, str) and isinstance(participant, str)  # checked above
    base = payload.get("base_version")
    return VerifiedSubmission(
        participant=participant,
        submission_id=sid.lower(),
        kid=kid,
        key=key,
        kind=str(kind),
        record_id=_text(payload.get("record_id")),
        action=_text(payload.get("action")),
        schema=_text(payload.get("schema")),
        base_version=base if isinstance(base, int) and not isinstance(base, bool) else None,
        record=payload.get("record"),
        audience=audience,
        created_at=created_at,
        received_at=received_at,
        serialization=jws.serialization,
        body=body,
        payload_bytes=payload_bytes,
        document=payload,
        signature_checked=not (verified_on_receipt and key.accepts(jws.alg)),
        on_behalf_of=_text(payload.get("on_behalf_of")),
    )


def _created_at(
    created: Any, received_at: datetime, window: tuple[timedelta, timedelta] | None, issues: list[ErrorItem]
) -> datetime | None:
    try:
        created_at = times.parse(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    if created_at is None:
        issues.append(ErrorItem("/created_at", "schema:format", "created_at must be an RFC 3339 date-time"))
    elif window is not None:
        max_age, max_skew = window
        if created_at < received_at - max_age:
            issues.append(
                ErrorItem(
                    "/created_at",
                    "created-at-window",
                    f"created_at {created} is older than {int(max_age.total_seconds())} seconds",
                )
            )
        elif created_at > received_at + max_skew:
            issues.append(ErrorItem("/created_at", "created-at-window", f"created_at {created} lies in the future"))
    return created_at


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
