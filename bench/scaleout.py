"""The scale-out configuration: ``exchange gateway`` and N ``exchange worker validate`` processes on
PostgreSQL and RabbitMQ, each run on a fresh schema and queue prefix of the test services.

The same pre-signed submissions as the embedded runs (``bench.pipeline.prepare``) are posted by the
same load generator; throughput counts from the first POST until every submission is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aio_pika
import asyncpg

from bench import profile
from bench.pipeline import _post_all, _rss_mb, prepare
from exchange import loops
from exchange.queue.amqp_topology import Topology, delete_topology
from tests.e2e.process import environment
from tests.scaleout.processes import Gateway, Worker
from tests.support import AMQP_URL, PG_URL

ORIGIN = "https://bench.test"


@dataclass
class ScaleOutRun:
    gateways: int
    workers: int
    clients: int
    submissions: int
    post_seconds: float
    total_seconds: float
    ack_p50_ms: float
    ack_p99_ms: float
    load_before: float  # 1-minute load average when the run started
    busy_elsewhere: list[str]  # other processes using CPU just before the run
    cpu_seconds: dict[str, float]  # CPU used during the run: gateway, workers, PostgreSQL, RabbitMQ, load generator
    gateway_peak_rss_mb: float
    worker_peak_rss_mb: float
    profile: dict[str, dict[str, float]] = field(default_factory=dict)  # process -> stage -> share of samples

    @property
    def per_second(self) -> float:
        return self.submissions / self.total_seconds

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_second": self.per_second}


async def reachable() -> str | None:
    """None when PostgreSQL and RabbitMQ answer, else why not."""
    try:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        await conn.close()
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
        await connection.close()
    except Exception as exc:  # both drivers raise several unrelated types for an unreachable service
        return f"{type(exc).__name__}: {exc}"
    return None


@contextlib.asynccontextmanager
async def _deployment() -> AsyncIterator[tuple[str, str]]:
    """A fresh schema and queue prefix, dropped and deleted afterwards: (database URL, prefix)."""
    name = "bench_" + secrets.token_hex(4)  # a valid schema name and amqp_prefix alike
    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f"CREATE SCHEMA {name}")
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}{urlencode({'search_path': name})}", name
    finally:
        connection = await aio_pika.connect(AMQP_URL)
        await delete_topology(connection, name)
        await connection.close()
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await conn.close()


async def _consumers(prefix: str) -> int:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(Topology(prefix).validate, passive=True)
        return int(queue.declaration_result.consumer_count or 0)


async def _accepted(database_url: str, count: int, timeout: float = 600) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE status = 'accepted'), count(*) FILTER (WHERE status = 'rejected') "
                "FROM submissions"
            )
            assert row is not None
            if row[1]:
                raise RuntimeError(f"{row[1]} submissions were rejected")
            if row[0] >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {row[0]} of {count} accepted after {timeout} s")
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        ticks[int(stat.parent.name)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


def _cpu_by_part(ours: dict[str, set[int]]) -> dict[str, int]:
    """CPU ticks so far of each part: ours by pid, the services by process name, the load generator."""
    parts = dict.fromkeys([*ours, "PostgreSQL", "RabbitMQ", "load generator"], 0)
    for pid, (name, used) in _cpu_ticks().items():
        part = next((p for p, pids in ours.items() if pid in pids), None)
        if part is None:
            part = {"postgres": "PostgreSQL", "beam.smp": "RabbitMQ"}.get(name)
        if part is None and pid == os.getpid():
            part = "load generator"
        if part is not None:
            parts[part] += used
    return parts


def busy_elsewhere(ours: set[int], seconds: float = 1.0) -> list[str]:
    """Processes other than ``ours`` (and this one) that used over 5 % of a core in the last ``seconds``."""
    hz = os.sysconf("SC_CLK_TCK")
    before = _cpu_ticks()
    time.sleep(seconds)
    after = _cpu_ticks()
    busy = []
    for pid, (name, used) in after.items():
        if pid in ours or pid == os.getpid() or pid not in before:
            continue
        share = (used - before[pid][1]) / hz / seconds
        if share > 0.05:
            busy.append(f"{name} {share:.0%}")
    return sorted(busy)


def run(
    records: dict[str, dict[str, Any]], workers: int, clients: int, count: int, *, sample: bool = False
) -> ScaleOutRun:
    """One scale-out run; ``sample``: profile the gateway and the workers with py-spy."""
    return loops.run(_run(records, workers, clients, count, sample))


async def _run(records: dict[str, dict[str, Any]], workers: int, clients: int, count: int, sample: bool) -> ScaleOutRun:
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
        async with _deployment() as (database_url, prefix):
            env = environment(
                Path(tmp) / "data",
                database_url=database_url,
                queue_url=AMQP_URL,
                amqp_prefix=prefix,
                origin=ORIGIN,
                rate_limit="100000",
                rate_burst="100000",
            )
            bodies = await asyncio.to_thread(prepare, env, ORIGIN, records, count)  # also migrates the schema
            logs = Path(tmp) / "logs"
            gateway = Gateway("gateway", env, logs)
            processes = [gateway, *(Worker(f"worker-{n}", env, logs) for n in range(workers))]
            try:
                await asyncio.to_thread(gateway.start)
                for worker in processes[1:]:
                    worker.spawn()
                deadline = time.monotonic() + 60
                while await _consumers(prefix) < workers:  # every worker is up and consuming
                    if time.monotonic() > deadline:
                        raise RuntimeError("the workers did not start:\n" + "\n".join(p.output() for p in processes))
                    await asyncio.sleep(0.1)
                others = await asyncio.to_thread(busy_elsewhere, {p.pid for p in processes})
                load = os.getloadavg()[0]
                parts = {"gateway": {gateway.pid}, "workers": {p.pid for p in processes[1:]}}
                names = {"gateway": gateway.pid} | {f"worker {n}": p.pid for n, p in enumerate(processes[1:], 1)}
                spies = profile.start(names, Path(tmp)) if sample else []
                ticks = _cpu_by_part(parts)
                start = time.perf_counter()
                post_seconds, latencies = await _post_all(gateway.url, bodies, clients)
                await _accepted(database_url, count)
                total = time.perf_counter() - start
                shares = profile.sampled(profile.stop(spies))
                hz = os.sysconf("SC_CLK_TCK")
                cpu = {part: (used - ticks[part]) / hz for part, used in _cpu_by_part(parts).items()}
                rss = [_rss_mb(p.pid) for p in processes]
            finally:
                for process in processes:
                    process.stop()
    quantiles = statistics.quantiles(latencies, n=100)
    return ScaleOutRun(
        gateways=1,
        workers=workers,
        clients=clients,
        submissions=count,
        post_seconds=post_seconds,
        total_seconds=total,
        ack_p50_ms=quantiles[49] * 1000,
        ack_p99_ms=quantiles[98] * 1000,
        load_before=load,
        busy_elsewhere=others,
        cpu_seconds=cpu,
        gateway_peak_rss_mb=rss[0],
        worker_peak_rss_mb=max(rss[1:]),
        profile=shares,
    )


def report_section(results: dict[str, Any]) -> list[str]:
    """The scale-out section of REPORT.md, from ``results["scaleout"]``."""
    section = results.get("scaleout") or {}
    lines = ["## Scale-out: PostgreSQL and RabbitMQ, separate processes", ""]
    if section.get("skipped"):
        return [*lines, f"Not measured: {section['skipped']}.", ""]
    runs = section.get("runs", [])
    lines += [
        f"Command: `{section.get('command', '.venv/bin/python -m bench')}`. One `exchange gateway` and 1 or 2 "
        "`exchange worker validate` processes on the local PostgreSQL "
        f"({section.get('postgresql', '?')}) and RabbitMQ ({section.get('rabbitmq', '?')}), every process, the "
        "services and the load generator sharing the same 2 cores; the same pre-signed submissions and "
        "load generator as above. Throughput counts from the first POST until every submission is accepted "
        "(counted in the database).",
        "",
        "| gateways | workers | clients | submissions | end-to-end per s | 202 p50 ms | 202 p99 ms "
        "| gateway peak RSS MB | worker peak RSS MB | load avg at start | also busy at start |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        lines.append(
            f"| {r['gateways']} | {r['workers']} | {r['clients']} | {r['submissions']} | {r['per_second']:,.0f} | "
            f"{r['ack_p50_ms']:.1f} | {r['ack_p99_ms']:.1f} | {r['gateway_peak_rss_mb']:.0f} | "
            f"{r['worker_peak_rss_mb']:.0f} | {r['load_before']:.2f} | {', '.join(r['busy_elsewhere']) or 'nothing'} |"
        )
    if runs and "cpu_seconds" in runs[0]:
        parts = list(runs[0]["cpu_seconds"])
        lines += [
            "",
            "CPU seconds used during each run (2 cores give 2 CPU seconds per second of the run):",
            "",
            "| workers | run s | " + " | ".join(parts) + " | total |",
            "| --- | --- | " + " | ".join("---" for _ in parts) + " | --- |",
        ]
        for r in runs:
            used = r["cpu_seconds"]
            lines.append(
                f"| {r['workers']} | {r['total_seconds']:.1f} | "
                + " | ".join(f"{used[p]:.1f}" for p in parts)
                + f" | {sum(used.values()):.1f} |"
            )
    note = section.get("note")
    if note:
        lines += ["", note]
    sampled = section.get("sampled")
    if sampled:
        each = 1e6 / sampled["submissions"]
        used = sampled["cpu_seconds"]
        cpu = {"gateway": used["gateway"] * each, "worker 1": used["workers"] * each}
        lines += [
            "",
            *profile.section(
                "### Where the time goes in the scale-out form",
                f"A further run with 1 worker ({sampled['per_second']:,.0f}/s end to end) with py-spy sampling the "
                f"gateway and the worker at {profile.RATE} Hz. CPU per submission in that run: gateway "
                f"{cpu['gateway']:,.0f} µs, worker {cpu['worker 1']:,.0f} µs, PostgreSQL "
                f"{used['PostgreSQL'] * each:,.0f} µs, RabbitMQ {used['RabbitMQ'] * each:,.0f} µs.",
                cpu,
                sampled["profile"],
            ),
        ]
    lines.append("")
    return lines


def measure(records: dict[str, dict[str, Any]], count: int, command: str) -> dict[str, Any]:
    """Both scale-out runs (1 and 2 workers, 64 clients), or why they were skipped."""
    problem = loops.run(reachable())
    if problem is not None:
        return {"skipped": f"PostgreSQL or RabbitMQ unreachable ({problem})"}
    runs = []
    for workers in (1, 2):
        print(f"scale-out, 1 gateway + {workers} worker(s), 64 clients, {count} submissions…", flush=True)
        runs.append(run(records, workers, 64, count))
        print(f"  {runs[-1].per_second:,.0f}/s end to end", flush=True)
    sampled = None
    if profile.available():
        print("scale-out, 1 gateway + 1 worker, 64 clients again, sampled by py-spy…", flush=True)
        sampled = run(records, 1, 64, count // 2, sample=True)
    return {
        "command": command,
        "postgresql": loops.run(_version("SHOW server_version")),
        "rabbitmq": _rabbitmq_version(),
        "runs": [r.as_dict() for r in runs],
        "note": _reading(runs),
        "sampled": sampled.as_dict() if sampled is not None else None,
    }


def _reading(runs: list[ScaleOutRun]) -> str:
    """What the figures say, from the figures (so the report never contradicts its table)."""
    one, two = runs
    cores = [sum(r.cpu_seconds.values()) / r.total_seconds for r in runs]
    database = [r.cpu_seconds["PostgreSQL"] / r.submissions * 1000 for r in runs]
    verdict = (
        f"a second worker adds {two.per_second / one.per_second - 1:.0%}"
        if two.per_second > one.per_second
        else f"a second worker does not add throughput ({two.per_second / one.per_second - 1:+.0%})"
    )
    return (
        f"Reading: the runs keep {cores[0]:.1f} and {cores[1]:.1f} of the 2 cores busy, so on this machine "
        f"{verdict}: the processes compete for the same CPU, the gateway (signature checks, a database row "
        "and a broker-confirmed message per submission) sets the pace, and two workers commit smaller batches, "
        f"which cost PostgreSQL more per submission ({database[0]:.2f} against {database[1]:.2f} CPU s per "
        "1,000). The scale-out form pays for durability twice and for crossing processes; it is for gateways "
        "and workers with cores of their own, where each added process brings its own CPU."
    )


async def _version(sql: str) -> str:
    conn = await asyncpg.connect(PG_URL)
    try:
        return str(await conn.fetchval(sql)).split()[0]
    finally:
        await conn.close()


def _rabbitmq_version() -> str:
    async def properties() -> str:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            server = connection.transport.connection.server_properties if connection.transport else {}
            value = server.get("version", b"?")
            return value.decode() if isinstance(value, bytes) else str(value)

    try:
        return loops.run(properties())
    except Exception:  # only a label in the report
        return "?"


__all__ = ["ScaleOutRun", "measure", "report_section", "run"]
