"""The per-submission work of ``exchange verify`` (decoding, hashing, verifying the signature, digesting
the signed record) spread over every core.

The export's submission lines are read in the main process, as before; chunks of them go to worker
processes, each of which checks every line against the line's *own* key id, participant, submission id
and reception time. The main process then runs every check of :class:`~exchange.auditor.submissions.
SubmissionCheck` in log order, as before, and takes a worker's result only when the log entry names the
very same inputs (the same JWS bytes, key, participant, submission and time); otherwise, and for every
line a worker could not verify, it checks in process as it always did. So the report is the same, in the
same order, whatever the number of cores: only where the work runs changes.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from exchange import times
from exchange.auditor.keydir import KeyDirectory
from exchange.auditor.report import Report
from exchange.auditor.source import b64decode
from exchange.content import content_sha256, value_digest
from exchange.identifiers import Serialization
from exchange.verification import Expected, VerificationError, VerifiedSubmission, verify_submission
from exchange.visibility import signed_visibility

#: Lines a worker checks at a time.
CHUNK = 500
#: Below this many submission lines everything is checked in process (a pool costs more than it saves).
MINIMUM = 2 * CHUNK


@dataclass(frozen=True, slots=True)
class Signed:
    """What the checks need of a verified submission (and of its signed record's digests)."""

    kid: str
    payload_sha256: str
    record_key: str
    action: str | None
    schema: str | None
    content: bytes  # :func:`exchange.auditor.submissions.content_digest` of the record (of None unless an upsert)
    compared: str | None  # :func:`exchange.content.content_sha256` of schema and record, for an upsert
    review: dict[str, Any] | None = None  # an editor's decision: the submission it names, as signed
    endorse: dict[str, Any] | None = None  # an endorsement: the version it names, as signed
    visibility: str = "public"  # as signed (:mod:`exchange.visibility`)
    readers: tuple[str, ...] = ()  # a restricted version's readers: the named ones, its owner and submitter


def signed(verified: VerifiedSubmission) -> Signed:
    action = verified.action
    record = verified.record if action == "upsert" else None
    visibility, readers = signed_visibility(verified.document, verified.owner, verified.participant)
    return Signed(
        kid=verified.kid,
        payload_sha256=verified.payload_sha256,
        record_key=verified.record_key,
        action=action,
        schema=verified.schema,
        content=value_digest(record),
        compared=content_sha256(verified.schema, record, visibility, readers) if action == "upsert" else None,
        review=_member(verified.document, "review"),
        endorse=_member(verified.document, "endorse"),
        visibility=visibility,
        readers=readers,
    )


def _member(document: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = document.get(name)
    return value if isinstance(value, dict) else None


#: (jws as exported, serialization, kid, participant, submission_id, received_at as written): the inputs
Inputs = tuple[str, Serialization, str, str, str, str]


@dataclass(frozen=True, slots=True)
class Prechecked:
    """A worker's result for one line: the inputs it used, the SHA-256 of the JWS bytes, the verified part."""

    inputs: Inputs
    jws_sha256: str
    signed: Signed


def serialization_of(line: dict[str, Any]) -> Serialization:
    return "compact" if line.get("serialization") == "compact" else "flattened"


def inputs(line: dict[str, Any], kid: Any, participant: Any, submission_id: Any, received_at: Any) -> Inputs | None:
    """The inputs of one check, when they all are strings (only such checks are done ahead)."""
    jws = line.get("jws")
    if (
        isinstance(jws, str)
        and isinstance(kid, str)
        and isinstance(participant, str)
        and isinstance(submission_id, str)
        and isinstance(received_at, str)
    ):
        return (jws, serialization_of(line), kid, participant, submission_id, received_at)
    return None


# ---- in a worker process ----------------------------------------------------------------------------

_keys: KeyDirectory | None = None
_origin: str | None = None


def _start(documents: list[dict[str, Any]], origin: str | None) -> None:
    global _keys, _origin  # one key directory per worker process
    _keys = KeyDirectory.load(documents, Report())
    _origin = origin


def _one(given: Inputs) -> Prechecked | None:
    assert _keys is not None
    jws, serialization, kid, participant, submission_id, received = given
    try:
        body = b64decode(jws)
        received_at = times.parse(received)
        expected = Expected(kid=kid, participant=participant, submission_id=submission_id, audience=_origin)
        verified = verify_submission(body, serialization, _keys.get, received_at=received_at, expected=expected)
    except (ValueError, VerificationError):
        return None  # the main process checks it again and reports what fails, as it always did
    return Prechecked(given, hashlib.sha256(body).hexdigest(), signed(verified))


def _chunk(lines: list[Inputs | None]) -> list[Prechecked | None]:
    return [None if given is None else _one(given) for given in lines]


# ---- in the main process ------------------------------------------------------------------------------


class Precheck:
    """Reads submission lines ahead and has worker processes check them; :meth:`take` hands a result over."""

    def __init__(self, documents: list[dict[str, Any]], origin: str | None, workers: int | None = None) -> None:
        self.documents = documents
        self.origin = origin
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._results: dict[int, Prechecked] = {}

    def lines(self, source: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``source``, line for line, with the lines' checks done ahead by the workers."""
        first: list[dict[str, Any]] = []
        for line in source:
            first.append(line)
            if len(first) >= MINIMUM:
                break
        if len(first) < MINIMUM or self.workers < 2:
            yield from first
            yield from source
            return
        with ProcessPoolExecutor(self.workers, initializer=_start, initargs=(self.documents, self.origin)) as pool:
            yield from self._ahead(pool, first, source)

    def _ahead(
        self, pool: ProcessPoolExecutor, first: list[dict[str, Any]], source: Iterator[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        pending: deque[tuple[list[dict[str, Any]], Future[list[Prechecked | None]]]] = deque()
        rest = iter(source)

        def submit(chunk: list[dict[str, Any]]) -> None:
            given = [
                inputs(line, line.get("kid"), line.get("participant"), line.get("submission_id"), line["received_at"])
                if "received_at" in line
                else None
                for line in chunk
            ]
            pending.append((chunk, pool.submit(_chunk, given)))

        for start in range(0, len(first), CHUNK):
            submit(first[start : start + CHUNK])
        exhausted = False
        while pending:
            while not exhausted and len(pending) < 2 * self.workers:
                chunk = [line for _, line in zip(range(CHUNK), rest, strict=False)]
                if chunk:
                    submit(chunk)
                exhausted = len(chunk) < CHUNK
            chunk, future = pending.popleft()
            for line, result in zip(chunk, future.result(), strict=True):
                index = line.get("log_index")
                if result is not None and isinstance(index, int):
                    self._results[index] = result
                yield line

    def take(self, index: int, given: Inputs | None) -> Prechecked | None:
        """The worker's result for log index ``index`` if it checked exactly ``given``; None otherwise."""
        result = self._results.pop(index, None)
        if result is None or given is None or result.inputs != given:
            return None
        return result
