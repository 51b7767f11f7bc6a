"""The error catalogue: every failure the service reports, in one RFC 9457 shape.

Each problem has a stable slug (its ``type`` is ``urn:exchange:problem:<slug>``), a title and an HTTP
status. Code raises :class:`ExchangeError` with a catalogue entry; the HTTP edge converts it to
``application/problem+json`` in exactly one place (:mod:`exchange.gateway.problems`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:exchange:problem:"


@dataclass(frozen=True, slots=True)
class Problem:
    """One entry of the catalogue."""

    slug: str
    title: str
    status: int

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.slug


class Problems:
    """The catalogue. Slugs are part of the public contract: never rename one."""

    BODY_TOO_LARGE = Problem("body-too-large", "Request body too large", 413)
    BODY_TIMEOUT = Problem("body-timeout", "Request body not received in time", 408)
    UNSUPPORTED_MEDIA_TYPE = Problem("unsupported-media-type", "Unsupported media type", 415)
    MALFORMED_JWS = Problem("malformed-jws", "Malformed JWS", 400)
    FORBIDDEN_HEADER = Problem("forbidden-header", "JWS header not allowed", 400)
    INVALID_JSON = Problem("invalid-json", "Payload is not valid I-JSON", 400)
    BAD_REQUEST = Problem("bad-request", "Bad request", 400)
    UNKNOWN_KEY = Problem("unknown-key", "Unknown signing key", 401)
    KEY_NOT_VALID = Problem("key-not-valid", "Signing key not valid", 401)
    ALGORITHM_MISMATCH = Problem("algorithm-mismatch", "Algorithm does not match the key", 401)
    BAD_SIGNATURE = Problem("bad-signature", "Signature verification failed", 401)
    KEY_NOT_OWNED = Problem("key-not-owned", "Participant does not own the key", 401)
    UNAUTHENTICATED = Problem("unauthenticated", "Authentication required", 401)
    FORBIDDEN = Problem("forbidden", "Not allowed", 403)
    NOT_FOUND = Problem("not-found", "Not found", 404)
    METHOD_NOT_ALLOWED = Problem("method-not-allowed", "Method not allowed", 405)
    SUBMISSION_CONFLICT = Problem("submission-conflict", "Submission id already used with other content", 409)
    VERSION_CONFLICT = Problem("version-conflict", "Base version is not the current version", 409)
    DUPLICATE_IDENTIFIER = Problem("duplicate-identifier", "Identifier already held by another record", 409)
    ALREADY_EXISTS = Problem("already-exists", "Already exists", 409)
    CHECKPOINT_CONFLICT = Problem("checkpoint-conflict", "Checkpoint conflicts with the one witnessed", 409)
    RECORD_WITHDRAWN = Problem("record-withdrawn", "Record withdrawn", 410)
    INVALID_PAYLOAD = Problem("invalid-payload", "Submission payload is invalid", 422)
    INVALID_REQUEST = Problem("invalid-request", "Request is invalid", 422)
    INCONSISTENT_CHECKPOINT = Problem("inconsistent-checkpoint", "Consistency proof does not verify", 422)
    RATE_LIMITED = Problem("rate-limited", "Too many requests", 429)
    INTERNAL = Problem("internal", "Internal error", 500)
    UNAVAILABLE = Problem("unavailable", "Service temporarily unavailable", 503)

    @classmethod
    def all(cls) -> list[Problem]:
        return [v for v in vars(cls).values() if isinstance(v, Problem)]


@dataclass(frozen=True, slots=True)
class ErrorItem:
    """One precise reason: a JSON pointer, the rule that failed and a readable message."""

    pointer: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "rule": self.rule, "message": self.message}


class ExchangeError(Exception):
    """A failure with a place in the catalogue. ``str()`` is the detail."""

    def __init__(
        self,
        problem: Problem,
        detail: str,
        *,
        errors: Sequence[ErrorItem | Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.errors = [e.as_dict() if isinstance(e, ErrorItem) else dict(e) for e in errors]
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.problem.type,
            "title": self.problem.title,
            "status": self.problem.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class Unavailable(ExchangeError):
    """A backend (database, broker) cannot be reached; the client should retry later."""

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(Problems.UNAVAILABLE, detail, headers={"Retry-After": str(retry_after)})
