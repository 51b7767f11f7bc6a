"""The client side of a submission: build the payload of DESIGN §4, sign it, send it, follow it.

Used by ``exchange submit`` and by the connectors; it needs nothing of the server's internals.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange import times
from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.ijson import dumps
from exchange.models import KINDS
from exchange.transport import RetryPolicy, Sleep, Transport, TransportError


class ClientError(TransportError):
    """The repository could not be used as expected."""


class SubmissionFileError(ValueError):
    """A file cannot be turned into a submission; the message says why."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A signed submission, ready to send (and to re-send byte for byte)."""

    participant: str
    submission_id: str
    body: bytes


def build_payload(
    *,
    participant: str,
    audience: str,
    kind: str,
    record_id: str,
    action: str = "upsert",
    record: Any = None,
    schema: str | None = None,
    base_version: int | None = None,
    submission_id: str | None = None,
    created_at: str | None = None,
    on_behalf_of: str | None = None,
    visibility: str | None = None,
    readers: Sequence[str] = (),
) -> dict[str, Any]:
    """A submission payload (DESIGN §4); ``on_behalf_of``: an editor's entry for that participant;
    ``visibility`` and ``readers``: who may see the version (public when not given)."""
    payload: dict[str, Any] = {
        "submission_id": submission_id or str(uuid.uuid4()),
        "participant": participant,
        "audience": audience,
        "created_at": created_at or times.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "action": action,
        "kind": kind,
        "schema": schema or f"{kind}/1",
        "record_id": record_id,
    }
    if base_version is not None:
        payload["base_version"] = base_version
    if on_behalf_of is not None:
        payload["on_behalf_of"] = on_behalf_of
    if visibility is not None:
        payload["visibility"] = visibility
    if readers:
        payload["readers"] = list(readers)
    if action == "upsert":
        payload["record"] = record
    return payload


def review_payload(
    *,
    participant: str,
    audience: str,
    action: str,
    reviewed: dict[str, Any],
    comments: str | None = None,
    submission_id: str | None = None,
) -> dict[str, Any]:
    """An editor's signed decision (``approve`` or ``return``) on a submission held for review.

    ``reviewed`` is the submission's status as the API shows it (participant, submission_id, kind,
    jws_sha256): the decision names its exact bytes, so it cannot apply to other ones.
    """
    payload: dict[str, Any] = {
        "submission_id": submission_id or str(uuid.uuid4()),
        "participant": participant,
        "audience": audience,
        "created_at": times.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "action": action,
        "kind": reviewed["kind"],
        "review": {
            "participant": reviewed["participant"],
            "submission_id": reviewed["submission_id"],
            "jws_sha256": reviewed["jws_sha256"],
        },
    }
    if comments:
        payload["comments"] = comments
    return payload


def endorse_payload(
    *, participant: str, audience: str, kind: str, record_id: str, version: int, jws_sha256: str
) -> dict[str, Any]:
    """A participant's own signature on a version of its record that an editor entered on its behalf;
    ``jws_sha256`` is that version's ``provenance.jws_sha256``, so the endorsement cannot apply to other bytes."""
    return {
        "submission_id": str(uuid.uuid4()),
        "participant": participant,
        "audience": audience,
        "created_at": times.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "action": "endorse",
        "kind": kind,
        "record_id": record_id,
        "endorse": {"version": version, "jws_sha256": jws_sha256},
    }


def sign(payload: dict[str, Any], key: SigningKey) -> Prepared:
    flattened = key.sign_jws(dumps(payload))
    return Prepared(payload["participant"], payload["submission_id"], dumps(flattened))


def payload_from_file(
    path: Path,
    *,
    participant: str,
    audience: str,
    kind: str | None = None,
    record_id: str | None = None,
    action: str | None = None,
    schema: str | None = None,
    base_version: int | None = None,
    on_behalf_of: str | None = None,
    visibility: str | None = None,
    readers: Sequence[str] = (),
) -> dict[str, Any]:
    """A payload from a JSON file holding either a bare record or {kind, record_id, action, record}
    (and, optionally, its ``visibility`` and ``readers``).

    Options win over the file; the kind may also come from the folder name (``law/``, ``case/``,
    ``lesson/``) and the record id from the file name.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SubmissionFileError(f"{path}: not a readable JSON file ({exc})") from None
    wrapper = isinstance(data, dict) and "record" in data and ("kind" in data or "record_id" in data)
    record = data.get("record") if wrapper else data
    meta = data if wrapper else {}
    kind = kind or meta.get("kind") or (path.parent.name if path.parent.name in KINDS else None)
    if kind not in KINDS:
        raise SubmissionFileError(f"{path}: say which kind it is (--kind {'|'.join(KINDS)})")
    return build_payload(
        participant=participant,
        audience=audience,
        kind=kind,
        record_id=record_id or meta.get("record_id") or path.stem,
        action=action or meta.get("action") or "upsert",
        record=record,
        schema=schema or meta.get("schema"),
        base_version=base_version if base_version is not None else meta.get("base_version"),
        on_behalf_of=on_behalf_of,
        visibility=visibility or meta.get("visibility"),
        readers=readers or meta.get("readers") or (),
    )


#: The statuses of a submission still on its way: received by the repository, or kept by a relay hub.
WAITING = frozenset({"received", "relaying"})


class SubmissionClient:
    """A small async client of the repository's API, on the shared :class:`~exchange.transport.Transport`.

    Submissions are retried as the same bytes (idempotent by ``submission_id``) on 429 and 5xx,
    honouring ``Retry-After``; answers are ``(status, JSON body)``.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.transport = Transport(url, token=token, retry=retry, total_timeout=timeout, sleep=sleep)
        self.url = self.transport.url
        self.token = token

    async def __aenter__(self) -> SubmissionClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.close()

    async def get_json(self, path: str) -> tuple[int, Any]:
        answer = await self.transport.get(path)
        return answer.status, answer.body

    async def info(self) -> dict[str, Any]:
        status, body = await self.get_json("/v1/info")
        if status != 200:
            raise ClientError(f"{self.url}/v1/info answered {status}; is this an exchange repository?")
        return dict(body)

    async def submit(self, prepared: Prepared) -> tuple[int, Any]:
        answer = await self.transport.request(
            "POST", "/v1/submissions", data=prepared.body, content_type=FLATTENED_MEDIA_TYPE
        )
        return answer.status, answer.body

    async def status(self, participant: str, submission_id: str) -> tuple[int, Any]:
        return await self.get_json(f"/v1/submissions/{participant}/{submission_id}")

    async def receipt(self, participant: str, submission_id: str) -> tuple[int, Any]:
        return await self.get_json(f"/v1/submissions/{participant}/{submission_id}/receipt")

    async def wait(self, participant: str, submission_id: str, timeout: float = 60.0) -> tuple[int, Any]:
        """Poll the status until it is no longer ``received`` (or, on a relay hub, ``relaying``), or
        ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            status, body = await self.status(participant, submission_id)
            if status != 200 or body.get("status") not in WAITING or time.monotonic() > deadline:
                return status, body
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)
