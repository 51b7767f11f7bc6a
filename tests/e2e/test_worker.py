"""The worker trusts nothing it takes from the queue: it verifies again, and sets aside what it cannot read."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from exchange import admin, times
from exchange.envelope import SigningKey, sha256_hex
from exchange.models import QueuedSubmission
from tests.e2e.conftest import register, start_service
from tests.support import Signer, example_for


def queued(participant: str, body: bytes, submission_id: str | None = None) -> QueuedSubmission:
    return QueuedSubmission(
        participant, submission_id or str(uuid.uuid4()), "law", times.iso(times.now()), sha256_hex(body),
        "flattened", body,
    )  # fmt: skip


async def test_unverifiable_messages_are_rejected_or_dead_lettered(tmp_path: Path) -> None:
    client, services = await start_service(tmp_path, {})
    try:
        signer = await register(services, "GBR")
        record_id, record = example_for("law", "GBR")
        stranger = Signer(SigningKey.generate("GBR/unregistered"), audience=signer.audience)
        payload = stranger.payload(record, record_id=record_id)
        unknown_key = queued("GBR", stranger.sign_payload(payload), payload["submission_id"])
        tampered_payload = signer.payload(record, record_id=record_id)
        good = json.loads(signer.sign_payload(tampered_payload))
        good["signature"] = good["signature"][:-4] + ("AAAA" if not good["signature"].endswith("AAAA") else "BBBB")
        bad_signature = queued("GBR", json.dumps(good).encode(), tampered_payload["submission_id"])
        poison = queued("GBR", b"this is not a JWS")
        await services.queue.publish([unknown_key, bad_signature, poison])
        states = {}
        for _ in range(200):
            for message in (unknown_key, bad_signature):
                state = await services.repository.get_submission("GBR", message.submission_id)
                if state is not None:
                    states[message.submission_id] = state
            if len(states) == 2 and await services.queue.list_dead_letters():
                break
            await asyncio.sleep(0.05)
        assert states[unknown_key.submission_id].status == "rejected"
        assert states[unknown_key.submission_id].errors[0]["rule"] == "key:unknown"
        assert states[bad_signature.submission_id].errors[0]["rule"] == "signature"
        assert all(s.log_index is not None for s in states.values())
        [dead] = await services.queue.list_dead_letters()
        assert dead.message == poison and "unreadable" in dead.reason
        assert await services.repository.get_submission("GBR", poison.submission_id) is None
    finally:
        await client.close()


async def test_a_key_is_judged_as_it_stood_when_the_submission_arrived(tmp_path: Path) -> None:
    """Revoking a key after a submission was received never invalidates that submission."""
    client, services = await start_service(tmp_path, {})
    try:
        signer = await register(services, "GBR")
        record_id, record = example_for("law", "GBR")
        payload = signer.payload(record, record_id=record_id)
        before = queued("GBR", signer.sign_payload(payload), payload["submission_id"])
        await admin.revoke_key(services.repository, signer.key.kid, "rotated after the submission arrived")
        later = signer.payload(record, record_id=record_id)
        after = queued("GBR", signer.sign_payload(later), later["submission_id"])
        await services.queue.publish([before, after])
        states = {}
        for _ in range(200):
            for message in (before, after):
                state = await services.repository.get_submission("GBR", message.submission_id)
                if state is not None and state.status != "received":
                    states[message.submission_id] = state
            if len(states) == 2:
                break
            await asyncio.sleep(0.05)
        assert states[before.submission_id].status == "accepted"
        assert states[after.submission_id].status == "rejected"
        assert states[after.submission_id].errors[0]["rule"] == "key:not-valid"
    finally:
        await client.close()
