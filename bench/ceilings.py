"""What each stage can do alone: the ceilings the pipeline is measured against.

In process on one core: Ed25519 verification, JWS parsing, I-JSON parsing, schema validation. Then
the two ends a submission's bytes pass through: a bare aiohttp handler (in a process of its own,
driven over loopback by the pipeline's load generator) and a bare batched SQLite commit.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import bare_http
from bench.pipeline import Body, _post_all, sign
from exchange import ijson, loops
from exchange.envelope import SigningKey, parse
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from exchange.publickeys import PublicKey
from exchange.sqlitedb import SqliteDatabase
from exchange.validation import ParticipantScope, Validator
from tests.e2e.process import free_port

ROOT = Path(__file__).resolve().parent.parent


def loop_ns(iterations: int = 5_000_000) -> float:
    """Nanoseconds per iteration of an empty Python loop: how fast this machine runs Python right now."""
    start = time.perf_counter()
    for _ in range(iterations):
        pass
    return (time.perf_counter() - start) / iterations * 1e9


def rate(fn: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls of ``fn`` a second, over about ``seconds``."""
    count, start = 0, time.perf_counter()
    while True:
        for _ in range(100):
            fn()
        count += 100
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def measure(payload: dict[str, Any], participant: str) -> dict[str, float]:
    key = SigningKey.generate(f"{participant}/bench")
    public = PublicKey(key.kid, participant, key.alg, key.public_jwk, datetime(2020, 1, 1, tzinfo=UTC))
    raw = json.dumps(payload).encode()
    body = json.dumps(key.sign_jws(raw)).encode()
    jws = parse(body, FLATTENED_MEDIA_TYPE)
    validator = Validator.from_package()
    scope = ParticipantScope(participant, "member_state", frozenset({participant}))
    assert not validator.validate_payload(payload, scope)
    ack = json.dumps(
        {
            "submission_id": payload["submission_id"],
            "participant": participant,
            "jws_sha256": "0" * 64,
            "received_at": "2026-01-01T00:00:00.000000Z",
            "audience": payload["audience"],
        }
    ).encode()
    return {
        "ed25519_verify_per_s": rate(lambda: jws.verify(public)),
        "jws_parse_per_s": rate(lambda: parse(body, FLATTENED_MEDIA_TYPE)),
        "ijson_parse_per_s": rate(lambda: ijson.loads(raw)),
        "validate_payload_per_s": rate(lambda: validator.validate_payload(payload, scope)),
        "ack_sign_per_s": rate(lambda: key.sign_jws(ack, typ="exchange-ack+json")),
    }


def measure_io(records: dict[str, dict[str, Any]], clients: int = 64) -> tuple[dict[str, float], dict[str, Any]]:
    """The HTTP and commit ceilings on submissions like the pipeline's: (per second by stage, details)."""
    keys = {participant: SigningKey.generate(f"{participant}/bench") for participant in records}
    bodies = sign(keys, "https://bench.test", records, 2000)
    http = bare_http_handler(bodies, clients)
    commit = sqlite_commit(bodies)
    limits = {"bare_http_handler_per_s": http["per_second"], "sqlite_batched_commit_per_s": commit["per_second"]}
    return limits, {"bare_http_handler": http, "sqlite_batched_commit": commit}


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system) used so far by process ``pid``."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_http_handler(bodies: list[Body], clients: int = 64, seconds: float = 2.5) -> dict[str, Any]:
    """``bodies`` (cycled) posted to :mod:`bench.bare_http` by the pipeline's load generator for about
    ``seconds`` after a warm-up pass: requests a second, and the CPU the server and load generator used."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_http", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"bench.bare_http exited: {server.communicate()[1].decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("bench.bare_http did not start listening") from None
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        warm_seconds, _ = loops.run(_post_all(url, bodies, clients))
        count = max(len(bodies), int(len(bodies) / warm_seconds * seconds))
        timed = list(itertools.islice(itertools.cycle(bodies), count))
        server_before = _cpu_seconds(server.pid)
        before = resource.getrusage(resource.RUSAGE_SELF)
        post_seconds, latencies = loops.run(_post_all(url, timed, clients))
        after = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = _cpu_seconds(server.pid) - server_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "per_second": count / post_seconds,
        "requests": count,
        "clients": clients,
        "seconds": post_seconds,
        "server_cpu_seconds": server_cpu,
        "loadgen_cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "ack_p50_ms": quantiles[49] * 1000,
        "ack_p99_ms": quantiles[98] * 1000,
        "request_bytes": sum(len(body) for _, _, body in timed) // count,
        "response_bytes": len(bare_http.ACKNOWLEDGMENT),
    }


def sqlite_commit(bodies: list[Body], seconds: float = 2.0, batch: int = 64) -> dict[str, Any]:
    """Rows holding ``bodies`` (cycled) and a few text columns, ``batch`` to a transaction, committed by
    one thread for about ``seconds`` into a WAL database opened as the repository opens its own
    (``synchronous=FULL``, each COMMIT durable): rows a second."""
    received = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
        conn = SqliteDatabase(Path(tmp) / "commit.db", synchronous="FULL")._connect()
        try:
            conn.execute(
                "CREATE TABLE submissions (participant TEXT NOT NULL, submission_id TEXT NOT NULL, "
                "status TEXT NOT NULL, received_at TEXT NOT NULL, body BLOB NOT NULL, "
                "PRIMARY KEY (participant, submission_id))"
            )
            journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
            synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
                conn.execute("PRAGMA synchronous").fetchone()[0]
            ]
            source = itertools.cycle(bodies)
            rows, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                chunk = [
                    (participant, str(uuid.UUID(int=rows + n)), "queued", received, body)
                    for n, (participant, _, body) in zip(range(batch), source, strict=False)
                ]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO submissions (participant, submission_id, status, received_at, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    chunk,
                )
                conn.execute("COMMIT")
                rows += len(chunk)
            elapsed = time.perf_counter() - start
            size = (Path(tmp) / "commit.db").stat().st_size + (Path(tmp) / "commit.db-wal").stat().st_size
        finally:
            conn.close()
    return {
        "per_second": rows / elapsed,
        "rows": rows,
        "batch": batch,
        "seconds": elapsed,
        "blob_bytes": sum(len(body) for _, _, body in bodies) // len(bodies),
        "journal_mode": journal,
        "synchronous": synchronous,
        "database_mb": size / 1e6,
    }
