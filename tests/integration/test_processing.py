"""The validation worker's outcome rules on the embedded backends: conflicts are refused visibly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from exchange import admin, times
from exchange.envelope import SigningKey, sha256_hex
from exchange.models import QueuedSubmission
from exchange.services import Services, open_services
from tests.support import Signer, example_for, make_settings
from workers import validate


def _queued(signer: Signer, body: bytes, submission_id: str) -> QueuedSubmission:
    return QueuedSubmission(
        signer.participant, submission_id, "law", times.iso(times.now()), sha256_hex(body), "flattened", body
    )


async def _registered(services: Services) -> Signer:
    """The participant GBR, registered with a key of its own: its signer."""
    await admin.add_participant(services.repository, services.validator, "GBR", "UK", "member_state", [])
    key = SigningKey.generate("GBR/2026-01")
    await admin.add_key(services.repository, key.kid, json.dumps(key.public_jwk).encode())
    return Signer(key, audience=services.settings.public_origin)


async def test_an_id_reused_with_other_bytes_is_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    """What the gateway answers 409 for when it can check, the worker refuses when it could not."""
    _, record = example_for("law", "GBR")
    async with open_services(make_settings(tmp_path)) as services:
        signer = await _registered(services)
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


async def test_a_signature_is_checked_once_the_receipt_vouches_for_the_same_bytes(tmp_path: Path) -> None:
    """The gateway records a receipt only after verifying; the worker verifies what has none."""
    _, record = example_for("law", "GBR")
    async with open_services(make_settings(tmp_path)) as services:
        signer = await _registered(services)
        impostor = Signer(SigningKey.generate("GBR/2026-01"), audience=services.settings.public_origin)
        genuine = signer.payload(record, record_id="genuine")
        vouched = impostor.payload(record, record_id="vouched")
        forged = impostor.payload(record, record_id="forged")
        messages = [_queued(signer, signer.sign_payload(p), str(p["submission_id"])) for p in (genuine,)] + [
            _queued(impostor, impostor.sign_payload(p), str(p["submission_id"])) for p in (vouched, forged)
        ]
        # a receipt for the "vouched" bytes stands for a signature check the gateway made and passed
        assert await services.repository.receive([messages[1]]) == [None]
        await services.queue.publish(messages)

        assert await validate.run(services, asyncio.Event(), burst=True) == 3

        states = await services.repository.get_submissions([(m.participant, m.submission_id) for m in messages])
        by_record = {p["record_id"]: states[("GBR", str(p["submission_id"]))] for p in (genuine, vouched, forged)}
        assert by_record["genuine"].status == "accepted"  # no receipt (queued during an outage): verified, genuine
        assert by_record["vouched"].status == "accepted"  # its receipt's digest matches: not verified again
        assert by_record["forged"].status == "rejected"  # no receipt: verified, and the signature is wrong
        assert [e["rule"] for e in by_record["forged"].errors] == ["signature"]
