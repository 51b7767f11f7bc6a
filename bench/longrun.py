"""A long run: ``exchange serve`` (embedded) fed by 64 clients for a fixed time, sampled as it goes.

Does the throughput hold while the repository grows, and does the memory of each process stay flat?
The submissions are pre-signed beforehand (enough for the duration at the rate the 64-client
embedded run sustained end to end, with a margin, up to a cap): the same three example laws, each
upserting one of 5,000 record ids per State in turn, so records gain versions as the run goes on. Every few seconds
the load generator notes how many submissions were acknowledged (202) and decided (the last
``seq`` of the change feed, read from the database) and the resident set (VmRSS) of the serving
process and of each of its children (the validation workers). At the end it waits until every
submission posted is accepted and checks it, in the database and over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.pipeline import Body, _children, _post_all, _rss_mb, _wait_decided, register, sign
from exchange import loops
from tests.e2e.process import Server, environment, exchange

MARGIN = 1.3  # pre-signed submissions: the expected count times this
CAP = 600_000  # at most this many (about 3 KB each in the load generator's memory; ~75 µs each to sign on 2 cores)
RECORD_IDS = 5_000  # record ids per State the submissions cycle over


@dataclass
class Sample:
    seconds: float  # since the first POST
    acknowledged: int  # 202s received so far
    decided: int  # accepted so far (the change feed's last seq)
    rss_mb: dict[str, float]  # VmRSS by process name


@dataclass
class Process:
    name: str
    pid: int
    start_mb: float  # VmRSS at the first sample after the warm-up
    peak_mb: float  # VmHWM read just before the server stops
    end_mb: float  # VmRSS at the last sample


def _names(server_pid: int, known: dict[int, str]) -> dict[int, str]:
    """Name the serving process and its children (``worker 1``, ``worker 2``… in order of first sight)."""
    known.setdefault(server_pid, "gateway")
    for child in _children(server_pid):
        if child not in known:
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            role = "worker" if b"worker" in argv else "child"
            known[child] = f"{role} {sum(1 for name in known.values() if name.startswith(role)) + 1}"
    return known


def _decided(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT max(seq) FROM changes").fetchone()[0] or 0)


def _window(samples: list[Sample], first: bool, seconds: float) -> tuple[float, float]:
    """Acknowledged and decided per second over the first (or last) ``seconds`` of the samples."""
    if first:
        a = samples[0]
        b = min(samples, key=lambda s: abs(s.seconds - seconds))
    else:
        b = samples[-1]
        a = min(samples, key=lambda s: abs(s.seconds - (b.seconds - seconds)))
    span = max(b.seconds - a.seconds, 1e-9)
    return (b.acknowledged - a.acknowledged) / span, (b.decided - a.decided) / span


def run(records: dict[str, dict[str, Any]], seconds: float, per_second: float, clients: int = 64) -> dict[str, Any]:
    """Feed ``exchange serve`` for ``seconds`` at ``clients`` clients, ``per_second`` being the rate expected."""
    count = max(10_000, min(CAP, int(per_second * seconds * MARGIN)))
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
        env = environment(Path(tmp) / "data", rate_limit="100000", rate_burst="100000")
        server = Server(env)
        server.env["EXCHANGE_ORIGIN"] = server.url
        keys = register(server.env, records)
        print(f"  signing {count:,} submissions…", flush=True)
        began = time.perf_counter()
        bodies = sign(keys, server.url, records, count, record_ids=RECORD_IDS, processes=os.cpu_count() or 1)
        signing = time.perf_counter() - began
        token = exchange("admin", "token", "create", "--role", "auditor", env=server.env, check=True).stdout.strip()
        server.start()
        try:
            assert server.process is not None
            result = loops.run(_feed(server.url, server.process.pid, token, bodies, clients, seconds, Path(tmp)))
        finally:
            server.stop()
    return {**result, "planned_seconds": seconds, "presigned": count, "signing_seconds": signing}


async def _feed(
    url: str, pid: int, token: str, bodies: list[Body], clients: int, seconds: float, tmp: Path
) -> dict[str, Any]:
    database = tmp / "data" / "exchange.db"
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
    try:
        window = min(60.0, seconds * 0.2)  # first and last minute, or first and last 20 % of a short run
        warm_up = min(10.0, window)
        interval = min(5.0, max(1.0, seconds / 30))
        names = _names(pid, {})
        latencies: list[float] = []
        samples: list[Sample] = []

        def sample(at: float) -> Sample:
            current = _names(pid, names)
            alive = {p: name for p, name in current.items() if p == pid or p in _children(pid)}
            rss = {name: _rss_mb(p, "VmRSS") for p, name in alive.items()}
            return Sample(round(at, 3), len(latencies), _decided(db), rss)

        start = time.perf_counter()
        samples.append(sample(0.0))
        poster = asyncio.create_task(_post_all(url, bodies, clients, until=start + seconds, latencies=latencies))
        shown = 0.0
        while not poster.done():
            await asyncio.wait({poster}, timeout=interval)
            samples.append(sample(time.perf_counter() - start))
            latest = samples[-1]
            if latest.seconds - shown >= window or poster.done():
                shown = latest.seconds
                acknowledged, decided = _window(samples, False, window)
                memory = ", ".join(f"{name} {mb:.0f}" for name, mb in latest.rss_mb.items())
                print(
                    f"  {latest.seconds:.0f} s: {latest.acknowledged:,} acknowledged, {latest.decided:,} accepted; "
                    f"last {window:.0f} s {acknowledged:,.0f}/s and {decided:,.0f}/s; RSS MB {memory}",
                    flush=True,
                )
        post_seconds, _ = poster.result()
        posted = len(latencies)
        if posted == len(bodies):
            print(f"  ran out of pre-signed submissions after {post_seconds:.0f} s", flush=True)
        ended = time.perf_counter()
        deadline = ended + 300
        while _decided(db) < posted:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {_decided(db):,} of {posted:,} accepted 300 s after the last POST")
            await asyncio.sleep(0.05)
        drain = time.perf_counter() - ended
        await _wait_decided(url, token, bodies[:posted])  # over HTTP: the last of each State and a sample
        totals = db.execute(
            "SELECT (SELECT count(*) FROM submissions), (SELECT count(*) FROM changes), "
            "(SELECT count(*) FROM queue_messages), (SELECT count(*) FROM queue_dead_letters)"
        ).fetchone()
        if tuple(totals) != (posted, posted, 0, 0):
            raise RuntimeError(
                f"after {posted:,} submissions posted: {totals[0]:,} stored, {totals[1]:,} changes (one per "
                f"accepted submission), {totals[2]:,} still queued, {totals[3]:,} dead letters"
            )
        peaks = {name: _rss_mb(p) for p, name in _names(pid, names).items()}  # VmHWM, just before the stop
        restarts = len(names) - 1 - len(_children(pid))
        records = int(db.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        db.close()
    database_mb = sum(f.stat().st_size for f in database.parent.glob("exchange.db*")) / 1e6
    warm = next((s for s in samples if s.seconds >= warm_up), samples[-1])
    processes = [
        Process(name, p, warm.rss_mb.get(name, 0.0), peaks.get(name, 0.0), samples[-1].rss_mb.get(name, 0.0))
        for p, name in names.items()
    ]
    first, last = _window(samples, True, window), _window(samples, False, window)
    return {
        "clients": clients,
        "posted": posted,
        "post_seconds": post_seconds,
        "ran_out": posted == len(bodies),
        "drain_seconds": drain,
        "window_seconds": window,
        "warm_up_seconds": warm.seconds,
        "first_acknowledged_per_s": first[0],
        "first_decided_per_s": first[1],
        "last_acknowledged_per_s": last[0],
        "last_decided_per_s": last[1],
        "decided_ratio": last[1] / first[1] if first[1] else 0.0,
        "overall_per_second": posted / (post_seconds + drain),
        "records": records,
        "database_mb": database_mb,
        "processes": [asdict(p) for p in processes],
        "restarts": restarts,  # child processes that exited and were started again during the run
        "samples": [asdict(s) for s in samples],
    }


def report_section(results: dict[str, Any]) -> list[str]:
    """The long-run section of REPORT.md, from ``results["longrun"]``."""
    run = results.get("longrun")
    if not run:
        return []
    window = run["window_seconds"]
    span = "minute" if window == 60 else f"{window:.0f} s"
    lines = [
        f"## Long run: {run['planned_seconds']:.0f} s at {run['clients']} clients",
        "",
        f"`exchange serve` (embedded, as above) fed without pause by {run['clients']} clients for "
        f"{run['post_seconds']:.0f} s: {run['posted']:,} pre-signed submissions, the three example laws upserted "
        f"in turn over {RECORD_IDS:,} record ids per State, so the repository grows as it goes (to "
        f"{run['records']:,} records and {run['database_mb']:,.0f} MB on disk). Sampled every few seconds: 202s "
        "received, submissions accepted (the change feed's last seq) and each process's resident set (VmRSS); "
        "the peak is the kernel's VmHWM read just before the server stops. Every submission posted was accepted, "
        f"the last {run['drain_seconds']:.1f} s after the last POST (checked in the database and over HTTP).",
        "",
        "| window | 202 per s | accepted per s |",
        "| --- | --- | --- |",
        f"| first {span} | {run['first_acknowledged_per_s']:,.0f} | {run['first_decided_per_s']:,.0f} |",
        f"| last {span} | {run['last_acknowledged_per_s']:,.0f} | {run['last_decided_per_s']:,.0f} |",
        f"| whole run | {run['posted'] / run['post_seconds']:,.0f} | {run['overall_per_second']:,.0f} |",
        "",
        f"| process | RSS MB at {run['warm_up_seconds']:.0f} s | peak RSS MB | RSS MB at the end | growth MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in run["processes"]:
        lines.append(
            f"| {p['name']} | {p['start_mb']:.0f} | {p['peak_mb']:.0f} | {p['end_mb']:.0f} | "
            f"{p['end_mb'] - p['start_mb']:+.0f} |"
        )
    growth = max((p["end_mb"] - p["start_mb"] for p in run["processes"]), default=0.0)
    lines += [
        "",
        f"Reading: the last {span} accepts {run['decided_ratio']:.0%} of the first {span}'s rate; from "
        f"{run['warm_up_seconds']:.0f} s to the end no process's resident set grew by more than {growth:.0f} MB"
        + (f"; {run['restarts']} worker restart(s)" if run.get("restarts") else "")
        + ".",
        "",
    ]
    if run.get("ran_out"):
        lines += [
            f"The pre-signed submissions ({run['presigned']:,}) ran out after {run['post_seconds']:.0f} of the "
            f"planned {run['planned_seconds']:.0f} s.",
            "",
        ]
    return lines


__all__ = ["Process", "Sample", "report_section", "run"]
