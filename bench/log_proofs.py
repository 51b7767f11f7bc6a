"""Inclusion proofs in a log of a million entries: built with the repository's own append code, then
served over HTTP by a real ``exchange serve`` from stored subtree hashes."""

from __future__ import annotations

import base64
import hashlib
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from exchange import loops
from exchange.repository.sqlite.log import append_log
from exchange.repository.sqlite.schema import MIGRATIONS
from exchange.sequencer import LogEntry
from exchange.sqlitedb import _migrate
from exchange.transparency.verify import verify_inclusion
from tests.e2e.process import Server, environment


def build(path: Path, size: int, batch: int = 20_000) -> float:
    """Append ``size`` entries in batches through ``append_log``; return the seconds it took."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    _migrate(conn, "repository", MIGRATIONS)
    conn.execute("COMMIT")
    start = time.perf_counter()
    for first in range(0, size, batch):
        entries = [
            LogEntry(i, b'{"index":%d,"type":"bench","v":1}' % i) for i in range(first, min(size, first + batch))
        ]
        conn.execute("BEGIN IMMEDIATE")
        append_log(conn, entries)
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - start


async def _measure(url: str, size: int, count: int) -> list[float]:
    latencies = []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v1/log/proof/inclusion", params={"index": 0, "size": size}) as response:
            root = (await response.json())["root"]
        for index in random.Random(7).sample(range(size), count):
            start = time.perf_counter()
            async with session.get(f"{url}/v1/log/proof/inclusion", params={"index": index, "size": size}) as r:
                body = await r.json()
            latencies.append(time.perf_counter() - start)
            entry = b'{"index":%d,"type":"bench","v":1}' % index
            leaf = hashlib.sha256(b"\x00" + entry).digest()
            verify_inclusion(index, size, leaf, [base64.b64decode(h) for h in body["proof"]], base64.b64decode(root))
    return latencies


def run(size: int = 1_000_000, count: int = 500) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="exchange-bench-log-") as tmp:
        data = Path(tmp) / "data"
        build_seconds = build(data / "exchange.db", size)
        server = Server(environment(data, serve_workers="0"))
        server.start()
        try:
            latencies = loops.run(_measure(server.url, size, count))
        finally:
            server.stop()
    q = statistics.quantiles(latencies, n=100)
    return {
        "entries": size,
        "append_per_second": size / build_seconds,
        "proofs": count,
        "proof_p50_ms": q[49] * 1000,
        "proof_p99_ms": q[98] * 1000,
        "proof_max_ms": max(latencies) * 1000,
    }


if __name__ == "__main__":
    print(run())
