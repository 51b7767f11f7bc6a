"""What the stand-alone benchmarks share: timing one URL, and writing their section of bench/REPORT.md."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import aiohttp

REPORT = Path(__file__).resolve().parent / "REPORT.md"


async def measure(session: aiohttp.ClientSession, path: str, requests: int) -> dict[str, float]:
    """``path`` once to warm it, then ``requests`` times in a row: p50, p95, p99 and max in ms."""
    async with session.get(path) as response:
        assert response.status == 200, (path, response.status, (await response.text())[:300])
        await response.read()
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        async with session.get(path) as response:
            await response.read()
            assert response.status == 200, path
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()

    def at(share: float) -> float:
        return round(samples[max(0, int(len(samples) * share) - 1)], 1)

    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": at(1.0)}


def write_section(heading: str, section: str) -> None:
    """Put ``section`` (which starts with ``## heading``) in bench/REPORT.md, in place of the one there."""
    text = REPORT.read_text(encoding="utf-8")
    head, marker, tail = text.partition(f"## {heading}")
    if marker:
        rest = tail.split("\n## ", 1)
        text = head + section + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    REPORT.write_text(text, encoding="utf-8")
