"""Composition of the backends: the hand-over each pair gets (one commit where they share an SQLite file)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from pathlib import Path

from exchange import times
from exchange.backends import Backends
from exchange.handover import SeparateHandover, SharedFileHandover
from exchange.models import Decision, QueuedSubmission
from exchange.processing import conflict_reason
from tests.support import make_settings


def _message(body: bytes) -> QueuedSubmission:
    return QueuedSubmission(
        "EST", str(uuid.uuid4()), "law", times.iso(times.now()), hashlib.sha256(body).hexdigest(), "flattened", body
    )


async def test_embedded_receipts_are_queued_in_the_same_transaction(tmp_path: Path) -> None:
    backends = Backends.from_settings(make_settings(tmp_path))
    handover = backends.handover()
    assert isinstance(handover, SharedFileHandover)
    await backends.open()
    try:
        first, second = _message(b"first"), _message(b"second")
        prior = await handover.receive([first, first, second])
        assert prior[0] is None and prior[2] is None
        assert prior[1] is not None and prior[1].status == "received" and prior[1].jws_sha256 == first.jws_sha256
        assert await backends.queue.depth() == 2  # the repeat in the same batch is not queued twice
        [again] = await handover.receive([first])
        assert again is not None and again.status == "received"
        assert await backends.queue.depth() == 2
        deliveries = await backends.queue.fetch(10, timeout=0.1)
        assert [d.message for d in deliveries] == [first, second]
        stored = await backends.repository.get_submissions(
            [("EST", first.submission_id), ("EST", second.submission_id)]
        )
        assert {s.submission_id for s in stored.values()} == {first.submission_id, second.submission_id}
    finally:
        await backends.close()


def test_separate_backends_record_then_publish(tmp_path: Path) -> None:
    scale_out = make_settings(
        tmp_path, database_url="postgresql://127.0.0.1/test", queue_url="amqp://guest:guest@127.0.0.1/"
    )
    assert isinstance(Backends.from_settings(scale_out).handover(), SeparateHandover)
    other_file = make_settings(tmp_path, queue_url=f"sqlite:///{tmp_path / 'queue.db'}")
    assert isinstance(Backends.from_settings(other_file).handover(), SeparateHandover)
    assert isinstance(Backends.from_settings(make_settings(tmp_path)).handover(), SharedFileHandover)


async def test_separate_backends_commit_then_publish_or_settle(tmp_path: Path) -> None:
    """Apart (here, the queue in its own file): receipts are recorded then published; decisions committed,
    then their deliveries acknowledged, or dead-lettered when the id already holds other bytes."""
    backends = Backends.from_settings(make_settings(tmp_path, queue_url=f"sqlite:///{tmp_path / 'queue.db'}"))
    handover = backends.handover()
    assert isinstance(handover, SeparateHandover)
    await backends.open()
    try:
        first, second = _message(b"first"), _message(b"second")
        assert await handover.receive([first, second]) == [None, None]
        [again] = await handover.receive([first])
        assert again is not None and again.status == "received"
        assert await backends.queue.depth() == 2  # the repeat is not published again
        reused = replace(second, jws_sha256=hashlib.sha256(b"other").hexdigest(), body=b"other")
        await backends.queue.publish([reused])  # as a gateway does while the database is away
        deliveries = await backends.queue.fetch(10, timeout=0.1)
        assert [d.message for d in deliveries] == [first, second, reused]
        errors = ({"pointer": "", "rule": "key:unknown", "message": "no key"},)
        decisions = [Decision(d.message, "EST/2026-01", "cd" * 32, errors=errors) for d in deliveries]
        states = await handover.settle(deliveries, decisions, conflict_reason)
        assert [s.status for s in states] == ["rejected", "rejected", "rejected"]
        assert states[2].jws_sha256 == second.jws_sha256  # the stored outcome stays the first bytes'
        assert await backends.queue.depth() == 0
        [dead] = await backends.queue.list_dead_letters()
        assert dead.message == reused and dead.reason == conflict_reason(reused, states[2])
    finally:
        await backends.close()
