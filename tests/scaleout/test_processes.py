"""Separate processes on the real services: 2 gateways and 2 workers take 2,000 signed submissions while
one worker is killed with SIGKILL; every submission answered 202 is decided exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.scaleout.processes import Sent, Stack, sign_many, submit_all
from tests.support import example_for

pytestmark = pytest.mark.services

COUNT = 2000
RECORDS = 40


async def test_two_gateways_two_workers_one_killed_every_submission_decided_once(stack: Stack) -> None:
    _, record = example_for("law", "GBR")
    bodies = sign_many(stack.signer, record, COUNT, RECORDS)
    gateways = [stack.gateway(), stack.gateway()]
    workers = [stack.worker(), stack.worker()]
    victim = workers[0]
    progress = Sent()
    at_kill: dict[str, int] = {}

    async def kill_midway() -> None:
        """SIGKILL one worker once both work and submissions are still coming in."""
        while True:
            [row] = await stack.query("SELECT count(*) FROM submissions WHERE status <> 'received'")
            if row[0] >= COUNT // 20:
                victim.kill()  # whatever it holds unacknowledged goes back to the broker
                at_kill.update(decided=row[0], accepted=len(progress.accepted))
                return
            await asyncio.sleep(0.02)

    await stack.wait_consumers(2)
    killer = asyncio.create_task(kill_midway())
    sent = await submit_all([g.url for g in gateways], bodies, concurrency=48, progress=progress)
    await asyncio.wait_for(killer, timeout=30)
    assert not sent.refused and not sent.errors, (sent.refused[:3], sent.errors)
    assert len(sent.accepted) == COUNT
    assert at_kill["accepted"] < COUNT and at_kill["decided"] < COUNT, f"not killed in the middle: {at_kill}"
    assert not victim.running and workers[1].running

    statuses = await stack.wait_decided(sent.accepted, timeout=90)
    assert Counter(statuses.values()) == {"accepted": COUNT}, stack.logs()

    logged = await stack.logged()
    assert len(logged) == COUNT and set(logged) == sent.accepted, "a submission was logged twice, or not at all"
    versions = await stack.query("SELECT record_id, version, seq, log_index, submission_id FROM record_versions")
    assert len({v["submission_id"] for v in versions}) == len(versions) == COUNT, "a submission was applied twice"
    by_record: dict[str, list[tuple[int, int, int]]] = {}
    for v in versions:
        by_record.setdefault(v["record_id"], []).append((v["version"], v["seq"], v["log_index"]))
    assert len(by_record) == RECORDS
    for rows in by_record.values():
        rows.sort()
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "versions are not dense"
        assert [r[1] for r in rows] == sorted(r[1] for r in rows), "seq does not follow the versions"
        assert [r[2] for r in rows] == sorted(r[2] for r in rows), "log order does not follow the versions"
    seqs = sorted(v["seq"] for v in versions)
    assert seqs == list(range(1, COUNT + 1))
    assert await stack.depth() == 0
    assert await stack.dead_letters() == []
