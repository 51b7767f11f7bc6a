"""A mirror node at work: its initial sync of a repository, and how far it trails the upstream under load.

python -m bench.mirror                          # 20,000 submissions, then 100 a second for 30 s
python -m bench.mirror --count 5000 --seconds 10

1. ``exchange serve`` (the upstream) holds ``count`` signed submissions (four States, posted through the
   gateway as in ``bench.pipeline``).
2. Initial sync: ``exchange mirror URL --once`` into an empty data directory, timed from start to exit
   (every checkpoint, entry, key and change verified and stored): log entries and changes a second.
3. Lag: ``exchange mirror URL`` serving, while the upstream takes ``rate`` submissions a second for
   ``seconds``; the feed's head upstream and the mirror's seq are sampled every 50 ms, and for each
   change the time from its appearance upstream to its appearance on the mirror is taken: p50, p99, max,
   and whether the backlog grows.

Writes bench/mirror.json and the "Mirror" section of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp

from bench.__main__ import EXAMPLES
from bench.pipeline import Body, _post_all, _wait_decided, prepare
from bench.sections import write_section
from exchange import loops
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from tests.e2e.process import Server, environment, exchange

HERE = Path(__file__).resolve().parent


async def _paced(url: str, bodies: list[Body], rate: float) -> float:
    """Post ``bodies`` at ``rate`` a second (each expecting a 202); the seconds it took."""
    began = time.perf_counter()
    async with aiohttp.ClientSession(headers={"Content-Type": FLATTENED_MEDIA_TYPE}) as session:

        async def one(n: int, body: bytes) -> None:
            await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            async with session.post(f"{url}/v1/submissions", data=body) as response:
                assert response.status == 202, await response.text()

        await asyncio.gather(*(one(n, body) for n, (_, _, body) in enumerate(bodies)))
    return time.perf_counter() - began


async def _head(session: aiohttp.ClientSession, url: str, since: int) -> int:
    """The feed's head, read from a known seq on (a page shorter than its limit ends at the head)."""
    while True:
        async with session.get(f"{url}/v1/changes", params={"since": str(since), "limit": "1000"}) as response:
            page = await response.json()
        if len(page["results"]) < 1000:
            return int(page["last_seq"])
        since = int(page["last_seq"])


async def _mirror_seq(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(f"{url}/v1/info") as response:
        return int((await response.json())["mirror"]["seq"])


async def _lag(upstream: str, mirror: str, bodies: list[Body], rate: float) -> dict[str, Any]:
    """Post at ``rate`` while sampling both heads; the time each change took to reach the mirror."""
    seen_up: list[tuple[float, int]] = []
    seen_mirror: list[tuple[float, int]] = []
    async with aiohttp.ClientSession() as session:
        start_seq = up = await _head(session, upstream, 0)
        posting = asyncio.create_task(_paced(upstream, bodies, rate))
        target = start_seq + len(bodies)
        deadline = time.perf_counter() + len(bodies) / rate + 120
        while time.perf_counter() < deadline:
            now = time.perf_counter()
            up, mine = await asyncio.gather(_head(session, upstream, up), _mirror_seq(session, mirror))
            seen_up.append((now, up))
            seen_mirror.append((now, mine))
            if mine >= target and posting.done():
                break
            await asyncio.sleep(0.05)
        seconds = await posting
    lags = []
    up_seqs = [s for _, s in seen_up]
    mirror_seqs = [s for _, s in seen_mirror]
    for seq in range(start_seq + 1, target + 1):
        i = bisect.bisect_left(up_seqs, seq)
        j = bisect.bisect_left(mirror_seqs, seq)
        if i < len(seen_up) and j < len(seen_mirror):
            lags.append(max(0.0, seen_mirror[j][0] - seen_up[i][0]))
    tail = lags[-max(1, len(lags) // 10) :]  # the last changes posted
    lags.sort()

    def at(share: float) -> float:
        return round(lags[max(0, int(len(lags) * share) - 1)] * 1000) if lags else -1

    return {
        "posted": len(bodies),
        "post_seconds": round(seconds, 1),
        "rate": round(len(bodies) / seconds),
        "reached": len(lags),
        "lag_ms_p50": at(0.5),
        "lag_ms_p99": at(0.99),
        "lag_ms_max": at(1.0),
        "last_tenth_ms_max": round(max(tail) * 1000) if tail else -1,
    }


def run(count: int, seconds: float, rate: float) -> dict[str, Any]:
    folder = resources.files("schemas") / "examples" / "law"
    records = {p: json.loads((folder / f"{name}.json").read_text(encoding="utf-8")) for p, name in EXAMPLES.items()}
    load = int(seconds * rate)
    with tempfile.TemporaryDirectory(prefix="exchange-bench-mirror-") as tmp:
        env = environment(Path(tmp) / "data", rate_limit="1000000", rate_burst="1000000", checkpoint_interval="1")
        server = Server(env)
        server.env["EXCHANGE_ORIGIN"] = server.url
        print(f"signing {count + load:,} submissions…", flush=True)
        bodies = prepare(server.env, server.url, records, count + load)
        token = exchange("admin", "token", "create", "--role", "auditor", env=server.env, check=True).stdout.strip()
        server.start()
        mirror_env = environment(Path(tmp) / "mirror", mirror_interval="5")
        try:
            print(f"posting {count:,}…", flush=True)
            loops.run(_post_all(server.url, bodies[:count], 64))
            loops.run(_wait_decided(server.url, token, bodies[:count]))
            time.sleep(2)
            print("exchange mirror --once…", flush=True)
            began = time.perf_counter()
            synced = subprocess.run(
                [sys.executable, "-m", "exchange", "mirror", server.url, "--once"],
                env=mirror_env,
                capture_output=True,
                text=True,
                timeout=3600,
            )
            sync_seconds = time.perf_counter() - began
            assert synced.returncode == 0, synced.stderr[-2000:]
            said = next(line for line in synced.stderr.splitlines() if line.startswith("mirrored "))
            entries = int(said.rsplit(": ", 1)[1].split(" log entries")[0])
            mirror = Server(mirror_env, command=("mirror", server.url)).start()
            try:
                print(f"posting {load:,} at {rate:g}/s while the mirror follows…", flush=True)
                lag = loops.run(_lag(server.url, mirror.url, bodies[count:], rate))
            finally:
                mirror.stop()
        finally:
            server.stop()
    return {
        "submissions": count,
        "cores": os.cpu_count(),
        "sync_seconds": round(sync_seconds, 1),
        "sync_entries": entries,
        "sync_entries_per_second": round(entries / sync_seconds),
        "sync_changes_per_second": round(count / sync_seconds),
        **lag,
    }


def report(result: dict[str, Any], command: str) -> str:
    return "\n".join(
        [
            "## Mirror",
            "",
            f"`{command}`: a real `exchange serve` holding {result['submissions']:,} signed submissions, and "
            f"`exchange mirror` of it, {result['cores']} cores, on one machine.",
            "",
            "| measure | value |",
            "| --- | ---: |",
            f"| initial sync (`exchange mirror URL --once`, start to exit) | {result['sync_seconds']} s |",
            f"| log entries verified and stored a second | {result['sync_entries_per_second']:,} |",
            f"| changes verified and stored a second | {result['sync_changes_per_second']:,} |",
            f"| load on the upstream while the mirror follows | {result['rate']:,} submissions/s for "
            f"{result['post_seconds']} s |",
            f"| lag, upstream feed to mirror feed: p50 | {result['lag_ms_p50']:,} ms |",
            f"| p99 | {result['lag_ms_p99']:,} ms |",
            f"| max | {result['lag_ms_max']:,} ms |",
            f"| max over the last tenth of the changes (a growing backlog would show here) | "
            f"{result['last_tenth_ms_max']:,} ms |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    result = run(args.count, args.seconds, args.rate)
    print(result, flush=True)
    (HERE / "mirror.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    command = "python -m bench.mirror"
    if (args.count, args.seconds, args.rate) != (20_000, 30.0, 100.0):
        command += f" --count {args.count} --seconds {args.seconds:g} --rate {args.rate:g}"
    write_section("Mirror", report(result, command))


if __name__ == "__main__":
    main()
