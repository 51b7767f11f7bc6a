"""What appending to the transparency log costs the pipeline's commit stage.

The same batches of decisions are committed by the real SQLite repository twice: as built (the entry's
canonical JSON and the Merkle nodes it completes, in the same transaction) and with only a bare
numbered row per outcome (no canonical JSON, no tree), which is what a log-free sequencer would need.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import orjson

from bench.pipeline import variant
from exchange import admin, loops, times
from exchange.directory import Directory
from exchange.envelope import SigningKey, sha256_hex
from exchange.handover import SeparateHandover
from exchange.models import Decision, QueuedSubmission, RecordKey
from exchange.processing import Processor
from exchange.repository.sqlite import SqliteRepository
from exchange.sqlitedb import SqliteDatabase
from exchange.validation import IndexFields, Validator
from tests.support import Signer, make_settings


def _decisions(count: int, record: dict[str, Any]) -> list[Decision]:
    content = orjson.dumps(record)
    index = IndexFields(("GBR",), ("150", "154"), ("off.cia.illegal_access",), "in_force", "Act", "Act text", None)
    out = []
    for n in range(count):
        body = uuid.uuid4().bytes
        sub = QueuedSubmission("GBR", str(uuid.uuid4()), "law", times.iso(times.now()),
                               hashlib.sha256(body).hexdigest(), "flattened", body)  # fmt: skip
        out.append(Decision(sub, "GBR/k1", "cd" * 32, record=RecordKey("GBR", "law", f"r{n % 500}"),
                            schema="law/1", content=content, index=index))  # fmt: skip
    return out


async def _rate(path: Path, batches: list[list[Decision]]) -> float:
    settings = make_settings(path.parent, sqlite_synchronous="FULL")
    repo = SqliteRepository(SqliteDatabase(path, synchronous="FULL"), settings)
    await repo.open()
    try:
        start = time.perf_counter()
        for batch in batches:
            await repo.decide(batch)
        return sum(map(len, batches)) / (time.perf_counter() - start)
    finally:
        await repo.close()


async def _worker_rate(path: Path, record: dict[str, Any], count: int, size: int) -> float:
    """The worker's whole stage (parse, validate, then commit in batches) on signed submissions.

    As in the pipeline, the signatures count as checked on receipt (the gateway verified them)."""
    settings = make_settings(path.parent, sqlite_synchronous="FULL", origin="https://bench.test")
    repo = SqliteRepository(SqliteDatabase(path, synchronous="FULL"), settings)
    await repo.open()
    try:
        validator = Validator.from_package()
        await admin.add_participant(repo, validator, "GBR", "United Kingdom", "member_state", [])
        key = SigningKey.generate("GBR/bench")
        await admin.add_key(repo, key.kid, orjson.dumps(key.public_jwk))
        signer = Signer(key, audience=settings.public_origin)
        messages = []
        for n in range(count):
            body = signer.submission(variant(record, n), record_id=f"r{n % 500}")
            sid = signer.sent[-1]
            messages.append(
                QueuedSubmission("GBR", sid, "law", times.iso(times.now()), sha256_hex(body), "flattened", body)
            )
        directory = Directory(repo, 60.0)
        queue = None  # judging only: nothing is queued or settled
        processor = Processor(settings, repo, queue, directory, validator, SeparateHandover(repo, queue))  # type: ignore[arg-type]
        start = time.perf_counter()
        for first in range(0, count, size):
            decisions = [await processor.judge(m, verified_on_receipt=True) for m in messages[first : first + size]]
            await repo.decide(decisions)
        return count / (time.perf_counter() - start)
    finally:
        await repo.close()


def run(record: dict[str, Any], batches: int = 40, size: int = 256) -> dict[str, Any]:
    work = [_decisions(size, record) for _ in range(batches)]
    with tempfile.TemporaryDirectory(prefix="exchange-bench-append-") as tmp:
        with_log = loops.run(_rate(Path(tmp) / "a" / "exchange.db", work))
        plain = [[Decision(d.submission, d.kid, d.payload_sha256, record=d.record, schema=d.schema, content=d.content,
                           index=d.index) for d in b] for b in work]  # fmt: skip
        count = batches * size // 2
        worker_with = loops.run(_worker_rate(Path(tmp) / "c" / "exchange.db", record, count, size))
        with (
            mock.patch("exchange.repository.sqlite.log.nodes_for_append", return_value=[]),
            mock.patch("exchange.sequencer.submission_entry", return_value=b"{}"),
        ):
            without = loops.run(_rate(Path(tmp) / "b" / "exchange.db", plain))
            worker_without = loops.run(_worker_rate(Path(tmp) / "d" / "exchange.db", record, count, size))
    return {
        "decisions_per_second_with_log": with_log,
        "decisions_per_second_without_log": without,
        "log_overhead": 1 - with_log / without,
        "worker_per_second_with_log": worker_with,
        "worker_per_second_without_log": worker_without,
        "worker_log_overhead": 1 - worker_with / worker_without,
    }


if __name__ == "__main__":
    import json
    from importlib import resources

    law = json.loads(
        (resources.files("schemas") / "examples" / "law" / "gbr-computer-misuse-act-1990.json").read_text()
    )
    print(run(law))
