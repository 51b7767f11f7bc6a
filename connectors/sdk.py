"""The client SDK: sign and submit, wait for the verdict, fetch the receipt, read records and the feed.

Built on :mod:`exchange.client` (payload and signature) and nothing of the server. Every request is
retried with growing back-off on 429, 503 (honouring ``Retry-After``), other 5xx and network errors; a
submission is always re-sent as the *same bytes*, so its ``submission_id`` can never yield a second
version::

    async with ExchangeClient(url, key=SigningKey.from_file(kid, path), token=token) as client:
        prepared = await client.prepare("law", "penal-code", record)
        outcome = await client.submit_and_wait(prepared)
        if outcome.status == "accepted":
            receipt = await client.receipt(outcome.participant, outcome.submission_id)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from exchange.client import Prepared, build_payload, sign
from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE, participant_of_kid, record_key
from exchange.transport import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    Sleep,
    Transport,
    TransportError,
    Unreachable,
    parse_problem,
)

__all__ = ["ExchangeClient", "Outcome", "OutcomeStatus", "RepositoryError", "RetryPolicy", "Unreachable"]

NDJSON = "application/x-ndjson"
BATCH_PATH = "/v1/submissions:batch"
OutcomeStatus = Literal["received", "accepted", "rejected", "refused", "failed", "held", "returned"]


#: The SDK's name for every failure of a request: a refusal it cannot use, an unreachable repository,
#: an answer past its size limit (:class:`~exchange.transport.TransportError`, carrying status and body).
RepositoryError = TransportError


@dataclass(slots=True)
class Outcome:
    """Where one submission stands, as far as the client knows.

    ``received``: durable at the repository (202), no verdict read yet; ``accepted`` / ``rejected``:
    the verdict; ``held``: accepted for review, published once an editor approves it (``returned``: an
    editor sent it back, with comments); ``refused``: the gateway turned it away (4xx problem:
    signature, key, payload…), it was never queued; ``failed``: it could not be delivered (network, 429
    or 5xx after every retry) and may be sent again, as the same bytes.
    """

    participant: str
    submission_id: str
    status: OutcomeStatus
    http_status: int | None = None
    body: Any = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""

    @property
    def record(self) -> str | None:
        return self.body.get("record") if isinstance(self.body, dict) else None

    @property
    def version(self) -> int | None:
        return self.body.get("version") if isinstance(self.body, dict) else None

    @property
    def unchanged(self) -> bool:
        """Accepted without a new version: the record equals its current version."""
        return isinstance(self.body, dict) and self.body.get("unchanged") is True

    @property
    def decided(self) -> bool:
        return self.status in ("accepted", "rejected", "refused")

    def summary(self) -> str:
        if self.status == "accepted":
            if self.unchanged:
                return f"unchanged {self.record} version {self.version} (no new version)"
            return f"accepted {self.record} version {self.version}"
        if self.status in ("rejected", "refused"):
            return f"{self.status}: {self.detail or len(self.errors)} ({len(self.errors)} error(s))"
        if self.status == "failed":
            return f"not delivered: {self.detail}"
        return f"received as {self.submission_id}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "participant": self.participant,
            "submission_id": self.submission_id,
            "status": self.status,
            "http_status": self.http_status,
            "record": self.record,
            "version": self.version,
            "unchanged": self.unchanged,
            "errors": self.errors,
            "detail": self.detail,
        }


def _problem(status: int | None, body: Any) -> tuple[str, list[dict[str, Any]]]:
    problem = parse_problem(status or 0, body)
    return problem.message, problem.errors


def _outcome_from_answer(prepared: Prepared, status: int, body: Any) -> Outcome:
    """An outcome from the gateway's answer to one submission (single or batch item)."""
    if status == 202:
        return Outcome(prepared.participant, prepared.submission_id, "received", status, body)
    detail, errors = _problem(status, body)
    if status in RETRYABLE_STATUSES:
        return Outcome(prepared.participant, prepared.submission_id, "failed", status, body, errors, detail)
    return Outcome(prepared.participant, prepared.submission_id, "refused", status, body, errors, detail)


def _outcome_from_state(participant: str, submission_id: str, state: Mapping[str, Any]) -> Outcome:
    verdict = state.get("status")
    if verdict == "accepted":
        return Outcome(participant, submission_id, "accepted", 200, dict(state))
    if verdict == "rejected":
        errors = list(state.get("errors") or [])
        return Outcome(participant, submission_id, "rejected", 200, dict(state), errors, f"{len(errors)} error(s)")
    if verdict == "pending_review":
        return Outcome(participant, submission_id, "held", 200, dict(state), detail="held for review")
    if verdict == "returned":
        comments = (state.get("review") or {}).get("comments") or ""
        return Outcome(participant, submission_id, "returned", 200, dict(state), detail=f"returned: {comments}")
    return Outcome(participant, submission_id, "received", 200, dict(state))


class ExchangeClient:
    """An async client of one repository, for one participant (``key``) and/or one API ``token``."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        key: SigningKey | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        batch_size: int = 500,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.key = key
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.transport = Transport(url, token=token, retry=self.retry, total_timeout=timeout, sleep=sleep)
        self._info: dict[str, Any] | None = None

    async def __aenter__(self) -> ExchangeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.close()

    @property
    def participant(self) -> str:
        if self.key is None:
            raise RuntimeError("this client has no signing key")
        return participant_of_kid(self.key.kid)

    # --- transport ----------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        content_type: str | None = None,
        retry: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request, retried where safe; returns (status, JSON body). Raises :class:`Unreachable`."""
        answer = await self.transport.request(
            method, path, data=data, content_type=content_type, retry=retry, headers=headers
        )
        return answer.status, answer.body

    async def get(self, path: str, **query: Any) -> tuple[int, Any]:
        params = {k: v for k, v in query.items() if v is not None}
        return await self.request("GET", path + (f"?{urlencode(params)}" if params else ""))

    # --- the repository -----------------------------------------------------------------------------

    async def info(self) -> dict[str, Any]:
        """``GET /v1/info`` (cached): origin (the audience to sign for), keys, limits."""
        if self._info is None:
            status, body = await self.get("/v1/info")
            if status != 200 or not isinstance(body, dict) or "origin" not in body:
                raise RepositoryError(f"{self.url}/v1/info answered {status}; is this an exchange repository?", status)
            self._info = body
        return self._info

    async def audience(self) -> str:
        return str((await self.info())["origin"])

    async def participants(self) -> list[dict[str, Any]]:
        status, body = await self.get("/v1/participants")
        if status != 200:
            raise RepositoryError(f"GET /v1/participants answered {status}", status, body)
        return list(body.get("participants") or [])

    # --- submitting ---------------------------------------------------------------------------------

    def sign_payload(self, payload: dict[str, Any]) -> Prepared:
        if self.key is None:
            raise RuntimeError("this client has no signing key")
        return sign(payload, self.key)

    async def prepare(
        self,
        kind: str,
        record_id: str,
        record: Any = None,
        *,
        action: str = "upsert",
        schema: str | None = None,
        base_version: int | None = None,
        submission_id: str | None = None,
        created_at: str | None = None,
    ) -> Prepared:
        """Build and sign a payload for this repository (its origin is the audience)."""
        payload = build_payload(
            participant=self.participant,
            audience=await self.audience(),
            kind=kind,
            record_id=record_id,
            action=action,
            record=record,
            schema=schema,
            base_version=base_version,
            submission_id=submission_id,
            created_at=created_at,
        )
        return self.sign_payload(payload)

    async def submit(self, prepared: Prepared) -> Outcome:
        """``POST /v1/submissions``; retried as the same bytes. Never raises for the network: ``failed``."""
        try:
            status, body = await self.request(
                "POST", "/v1/submissions", data=prepared.body, content_type=FLATTENED_MEDIA_TYPE
            )
        except Unreachable as exc:
            return Outcome(prepared.participant, prepared.submission_id, "failed", detail=str(exc))
        return _outcome_from_answer(prepared, status, body)

    async def submit_many(self, prepared: Sequence[Prepared]) -> list[Outcome]:
        """Many submissions through ``POST /v1/submissions:batch`` (NDJSON), in chunks, one outcome each.

        Items answered 429 or 5xx are sent again (the same bytes) after a back-off; if the repository
        has no batch endpoint, they are sent one by one.
        """
        outcomes: list[Outcome | None] = [None] * len(prepared)
        limits = (await self.info()).get("limits") or {}
        size = max(1, min(self.batch_size, int(limits.get("max_batch_items") or self.batch_size)))
        max_bytes = int(limits.get("max_body_bytes") or 1_048_576) * min(size, 8)
        pending = list(range(len(prepared)))
        for attempt in range(self.retry.attempts):
            if not pending:
                break
            again: list[int] = []
            for chunk in _chunks(pending, prepared, size, max_bytes):
                results = await self._batch([prepared[i] for i in chunk])
                for index, outcome in zip(chunk, results, strict=True):
                    outcomes[index] = outcome
                    if outcome.status == "failed":
                        again.append(index)
            pending = again
            if pending and attempt < self.retry.attempts - 1:
                await self.transport.sleep(self.retry.delay(attempt))
        return [o for o in outcomes if o is not None]

    async def _batch(self, items: Sequence[Prepared]) -> list[Outcome]:
        body = b"\n".join(p.body for p in items) + b"\n"
        try:
            status, answer = await self.request(
                "POST", BATCH_PATH, data=body, content_type=NDJSON, headers={"Accept": "application/json"}
            )
        except Unreachable as exc:
            return [Outcome(p.participant, p.submission_id, "failed", detail=str(exc)) for p in items]
        if status in (404, 405):
            return [await self.submit(p) for p in items]
        if status == 413 and len(items) > 1:
            half = len(items) // 2
            return [*await self._batch(items[:half]), *await self._batch(items[half:])]
        results = answer.get("results") if isinstance(answer, dict) else None
        if status != 207 or not isinstance(results, list) or len(results) != len(items):
            detail, errors = _problem(status, answer)
            kind: OutcomeStatus = "failed" if status in RETRYABLE_STATUSES else "refused"
            return [Outcome(p.participant, p.submission_id, kind, status, answer, errors, detail) for p in items]
        return [
            _outcome_from_answer(p, int(r.get("status") or 0), r.get("body"))
            for p, r in zip(items, results, strict=True)
        ]

    # --- following a submission ---------------------------------------------------------------------

    async def status(self, participant: str, submission_id: str) -> Outcome:
        """``GET /v1/submissions/{participant}/{id}`` (needs a participant, auditor or admin token)."""
        status, body = await self.get(f"/v1/submissions/{quote(participant)}/{quote(submission_id)}")
        if status == 200 and isinstance(body, dict):
            return _outcome_from_state(participant, submission_id, body)
        detail, _errors = _problem(status, body)
        raise RepositoryError(f"status of {participant}/{submission_id}: HTTP {status}: {detail}", status, body)

    async def exists(self, participant: str, submission_id: str) -> bool:
        """Whether the repository holds this submission at all (received or decided); no token needed."""
        status, _ = await self.get(f"/v1/submissions/{quote(participant)}/{quote(submission_id)}/receipt")
        if status == 404:
            return False
        if status in (200, 401, 403):
            return True
        raise RepositoryError(f"cannot tell whether {participant}/{submission_id} exists (HTTP {status})", status)

    async def wait(self, participant: str, submission_id: str, timeout: float = 60.0) -> Outcome:
        """Poll the status until a verdict (or ``timeout`` seconds); ``received`` when none came."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            outcome = await self.status(participant, submission_id)
            if outcome.status != "received" or time.monotonic() >= deadline:
                return outcome
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 1.0)

    async def submit_and_wait(self, prepared: Prepared, timeout: float = 60.0) -> Outcome:
        outcome = await self.submit(prepared)
        if outcome.status != "received" or not self.token:
            return outcome
        return await self.wait(prepared.participant, prepared.submission_id, timeout)

    async def receipt(self, participant: str, submission_id: str) -> dict[str, Any]:
        """The log receipt ``{log_index, entry, inclusion_proof, checkpoint}`` of a decided submission."""
        status, body = await self.get(f"/v1/submissions/{quote(participant)}/{quote(submission_id)}/receipt")
        if status != 200 or not isinstance(body, dict):
            raise RepositoryError(f"receipt of {participant}/{submission_id}: HTTP {status}", status, body)
        return body

    # --- reading ------------------------------------------------------------------------------------

    async def record(self, participant: str, kind: str, record_id: str) -> dict[str, Any] | None:
        """The current version of a record with its provenance; None if there is none (or it was withdrawn)."""
        status, body = await self.get(f"/v1/records/{quote(participant)}/{kind}/{quote(record_id)}")
        if status in (404, 410):
            return None
        if status != 200:
            raise RepositoryError(f"record {record_key(participant, kind, record_id)}: HTTP {status}", status, body)
        return dict(body)

    async def versions(self, participant: str, kind: str, record_id: str) -> list[dict[str, Any]]:
        status, body = await self.get(f"/v1/records/{quote(participant)}/{kind}/{quote(record_id)}/versions")
        if status == 404:
            return []
        if status != 200:
            raise RepositoryError(
                f"versions of {record_key(participant, kind, record_id)}: HTTP {status}", status, body
            )
        return list(body.get("versions") or [])

    async def records(self, limit: int = 100, **filters: str | None) -> AsyncIterator[dict[str, Any]]:
        """Every current record matching the filters (kind, participant, jurisdiction, tag, q, …), page by page."""
        cursor: str | None = None
        while True:
            status, body = await self.get("/v1/records", limit=limit, cursor=cursor, **filters)
            if status != 200:
                raise RepositoryError(f"GET /v1/records: HTTP {status}: {_problem(status, body)[0]}", status, body)
            for item in body.get("results") or []:
                yield item
            cursor = body.get("next")
            if not cursor:
                return

    async def changes(self, since: int = 0, limit: int | None = None, **filters: str | None) -> dict[str, Any]:
        """One page of the change feed: ``{"results": [change…], "last_seq": N}`` (``since`` is exclusive).

        A change this client's token may not see is ``{"seq": N, "hidden": true}`` (README, "Visibility").
        """
        status, body = await self.get("/v1/changes", since=since, limit=limit, **filters)
        if status != 200 or not isinstance(body, dict):
            raise RepositoryError(f"GET /v1/changes: HTTP {status}: {_problem(status, body)[0]}", status, body)
        return body

    async def follow(
        self, since: int = 0, *, poll: float = 1.0, stop: asyncio.Event | None = None, **filters: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every change after ``since``, in order, polling for more until ``stop`` is set (placeholders of
        changes this client may not see included, as :meth:`changes` returns them)."""
        while stop is None or not stop.is_set():
            page = await self.changes(since, None, **filters)
            results = page.get("results") or []
            for change in results:
                yield change
                since = max(since, int(change.get("seq") or since))
            since = max(since, int(page.get("last_seq") or since))
            if not results:
                if stop is None:
                    await asyncio.sleep(poll)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=poll)


def _chunks(indexes: list[int], prepared: Sequence[Prepared], size: int, max_bytes: int) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index in indexes:
        length = len(prepared[index].body) + 1
        if current and (len(current) >= size or used + length > max_bytes):
            chunks.append(current)
            current, used = [], 0
        current.append(index)
        used += length
    if current:
        chunks.append(current)
    return chunks
