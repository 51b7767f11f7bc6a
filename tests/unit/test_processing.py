"""The validation worker's outcome rules on the embedded backends: conflicts are refused visibly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from exchange import admin, times
from exchange.envelope import SigningKey, sha256_hex
from exchange.models import QueuedSubmission
from exchange.services import open_services
from tests.support import Signer, example_for, make_settings
from workers import validate


def _queued(signer: Signer, body: bytes, submission_id: str) -> QueuedSubmission:
    return QueuedSubmission(
        signer.participant, submission_id, "law", times.iso(times.now()), sha256_hex(body), "flattened", body
    )


async def test_an_id_reused_with_other_bytes_is_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    """What the gateway answers 409 for when it can check, the worker refuses when it could not."""
    _, record = example_for("law", "GBR")
    async with open_services(make_settings(tmp_path)) as services:
        await admin.add_participant(services.repository, services.validator, "GBR", "UK", "member_state", [])
        key = SigningKey.generate("GBR/2026-01")
        await admin.add_key(services.repository, key.kid, json.dumps(key.public_jwk).encode())
        signer = Signer(key, audience=services.settings.public_origin)
        payload = signer.payload(record, record_id="first")
        sid = str(payload["submission_id"])
        first = _queued(signer, signer.sign_payload(payload), sid)
        other = _queued(signer, signer.sign_payload({**payload, "record_id": "second"}), sid)
        await services.queue.publish([first, other])  # as a gateway does while the database is away

        assert await validate.run(services, asyncio.Event(), burst=True) == 1

        state = await services.repository.get_submission("GBR", sid)
        assert state is not None and state.status == "accepted" and state.jws_sha256 == first.jws_sha256
        assert state.record == "GBR/law/first"
        assert await services.repository.log_size() == 2  # the key event and the first submission
        [dead] = await services.queue.list_dead_letters()
        assert dead.message.jws_sha256 == other.jws_sha256
        assert dead.reason.startswith(f"conflict: submission_id {sid} was already used by GBR with other content")
        assert await services.queue.depth() == 0
