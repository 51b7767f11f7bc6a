"""Run the benchmark and write bench/REPORT.md and bench/results.json.

python -m bench                 # the full run (about 25 minutes on 2 cores, 10 of them the long run)
python -m bench --quick         # a short smoke run
python -m bench --no-scaleout   # only the embedded configuration (no PostgreSQL or RabbitMQ needed)
python -m bench --long-seconds 0  # without the long run (600 s by default, 30 s with --quick)
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path

from bench import ceilings, fanout, log_overhead, log_proofs, longrun, pipeline, profile, scaleout

HERE = Path(__file__).resolve().parent
BATCH = 50  # submissions per request in the run on the batch endpoint (a bulk back-fill)
EXAMPLES = {
    "GBR": "gbr-computer-misuse-act-1990",
    "IRL": "irl-criminal-justice-information-systems-act-2017",
    "DEU": "deu-strafgesetzbuch-202a-202c",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer submissions, for a smoke run")
    parser.add_argument("--count", type=int, help="submissions per configuration")
    parser.add_argument("--no-scaleout", action="store_true", help="skip the PostgreSQL + RabbitMQ configuration")
    parser.add_argument(
        "--long-seconds",
        type=float,
        help="duration of the long embedded run at 64 clients (default 600, 30 with --quick; 0 skips it)",
    )
    args = parser.parse_args()
    count = args.count or (1000 if args.quick else 6000)
    long_seconds = args.long_seconds if args.long_seconds is not None else (30.0 if args.quick else 600.0)
    folder = resources.files("schemas") / "examples" / "law"
    records = {p: json.loads((folder / f"{name}.json").read_text(encoding="utf-8")) for p, name in EXAMPLES.items()}
    size = sum(len(json.dumps(r)) for r in records.values()) // len(records)

    print("ceilings (one core, one stage alone)…", flush=True)
    payload = {
        "submission_id": "0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10",
        "participant": "GBR",
        "audience": "https://bench.test",
        "created_at": "2026-01-01T00:00:00Z",
        "action": "upsert",
        "kind": "law",
        "schema": "law/1",
        "record_id": "bench",
        "record": records["GBR"],
    }
    limits = ceilings.measure(payload, "GBR")
    print("ceilings: a bare aiohttp handler (64 clients over loopback) and a bare batched SQLite commit…", flush=True)
    io_limits, io_details = ceilings.measure_io(records)
    limits.update(io_limits)
    runs = []
    for clients in (16, 64):
        print(f"embedded default, {clients} clients, {count} submissions…", flush=True)
        runs.append(pipeline.run(records, clients, count, {}))
        print(f"  {runs[-1].per_second:,.0f}/s end to end", flush=True)
    print(f"embedded default, 16 clients posting batches of {BATCH}, {count} submissions…", flush=True)
    runs.append(pipeline.run(records, 16, count, {}, batch=BATCH))
    print(f"  {runs[-1].per_second:,.0f}/s end to end", flush=True)
    sampled = None
    if profile.available():
        print("embedded default, 64 clients again, sampled by py-spy…", flush=True)
        sampled = pipeline.run(records, 64, count // 2, {}, sample=True)  # long enough for ~1,000 samples
    results = {
        "machine": pipeline.machine(),
        "python_loop_ns": ceilings.loop_ns(),
        "date": time.strftime("%Y-%m-%d"),
        "record_bytes": size,
        "ceilings": limits,
        "ceiling_details": io_details,
        "embedded": [{**asdict(r), "per_second": r.per_second} for r in runs],
    }
    if sampled is not None:
        results["profile"] = {**asdict(sampled), "per_second": sampled.per_second}
    entries = 100_000 if args.quick else 1_000_000
    print(f"inclusion proofs in a log of {entries:,} entries…", flush=True)
    results["log_proofs"] = log_proofs.run(entries, 200 if args.quick else 500)
    print("the log append's cost at the commit stage…", flush=True)
    results["log_overhead"] = log_overhead.run(records["GBR"], batches=10 if args.quick else 40)
    print("feed fan-out: 100 event streams and 50 webhook subscriptions…", flush=True)
    changes = 100 if args.quick else 200
    results["fanout"] = [
        fanout.run(records["GBR"], changes=changes, rate=25.0),
        fanout.run(records["GBR"], changes=changes, rate=100.0),
    ]
    print("feed fan-out: 1,000 event streams held open…", flush=True)
    results["held_open"] = fanout.held_open(records["GBR"], changes=changes)
    if not args.no_scaleout:
        results["scaleout"] = scaleout.measure(records, count, command(args))
    if long_seconds > 0:
        print(f"long run: embedded default, 64 clients for {long_seconds:.0f} s…", flush=True)
        # pre-signed for the rate the 64-client run of single submissions sustained end to end
        at64 = next(r for r in runs if r.clients == 64 and r.batch == 1)
        results["longrun"] = longrun.run(records, long_seconds, at64.per_second)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    previous = (HERE / "REPORT.md").read_text() if (HERE / "REPORT.md").exists() else ""
    fresh = report(results, args)
    (HERE / "REPORT.md").write_text(fresh + kept_sections(previous, fresh))
    print(f"wrote {HERE / 'REPORT.md'}")


def kept_sections(previous: str, fresh: str) -> str:
    """The sections of the previous report this run does not write (those the stand-alone benchmarks
    wrote: portal, reads, audit, mirror), to keep after the fresh ones."""

    def title(heading: str) -> str:  # "Long run: 600 s at 64 clients" and "Long run: 300 s …" are one
        return heading.split(":")[0]

    written = {title(line[3:]) for line in fresh.splitlines() if line.startswith("## ")}
    kept = []
    for part in previous.split("\n## ")[1:]:
        if title(part.splitlines()[0]) not in written:
            kept.append("## " + part.rstrip("\n"))
    return "".join(f"\n{section}\n" for section in kept)


def report(results: dict, args: argparse.Namespace) -> str:  # type: ignore[type-arg]
    c = results["ceilings"]
    lines = [
        "# Benchmark report",
        "",
        f"Command: `make bench` (= `{command(args)}`), {results['date']}, {results['machine']}.",
        "",
        f"Speed of this machine at the time: an empty Python loop iteration took {results.get('python_loop_ns', 0):.0f} ns "
        f"and an Ed25519 verification {1e6 / results['ceilings']['ed25519_verify_per_s']:.0f} µs (see the ceilings). "
        "Machines of the same kind differ, and so does one machine from hour to hour: compare two reports "
        "by these two figures first.",
        "",
        *_goals_section(results),
        "## End to end: signed submissions, POST until accepted and readable",
        "",
        f"`exchange serve` (embedded SQLite: the gateway process and one validation worker process); pre-signed Ed25519 "
        f"submissions of ~{results['record_bytes']:,}-byte law records from 3 States over 500 records each, posted "
        "by the load generator on the same 2-core machine. Throughput counts from the first POST until the last "
        "submission is accepted (readable). Latencies: POST until the 202 acknowledgment, and POST until the "
        "change is visible to a reader of the event stream.",
        "",
        "| clients | per request | submissions | end-to-end per s | 202 p50 ms | 202 p99 ms | in feed p50 ms "
        "| in feed p99 ms | CPU µs each: gateway | worker | load generator | gateway peak RSS MB "
        "| worker peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["embedded"]:
        workers = ", ".join(f"{mb:.0f}" for mb in r.get("worker_peak_rss_mb", [])) or "–"
        each = 1e6 / r["submissions"]
        lines.append(
            f"| {r['clients']} | {r.get('batch', 1)} | {r['submissions']} | {r['per_second']:,.0f} | "
            f"{r['ack_p50_ms']:.1f} | {r['ack_p99_ms']:.1f} | {r['feed_p50_ms']:.1f} | {r['feed_p99_ms']:.1f} | "
            f"{r.get('gateway_cpu_seconds', 0) * each:,.0f} | {r.get('worker_cpu_seconds', 0) * each:,.0f} | "
            f"{r['loadgen_cpu_seconds'] * each:,.0f} | {r['server_peak_rss_mb']:.0f} | {workers} |"
        )
    lowest_name, lowest = min(c.items(), key=lambda item: float(item[1]))
    best = max(r["per_second"] for r in results["embedded"])
    details = results.get("ceiling_details", {})
    lines += [
        "",
        "## Ceilings: one stage alone on one core",
        "",
        "| stage | per second | cost each |",
        "| --- | --- | --- |",
        *(f"| {_stage(name)} | {value:,.0f} | {_ceiling_cost(name, value, details)} |" for name, value in c.items()),
        "",
        *_ceiling_notes(details),
        f"The pipeline reaches {best / lowest:.0%} of the lowest single-stage ceiling: the "
        f"{_stage(lowest_name)} ({lowest:,.0f}/s"
        + (
            ", measured over loopback with the load generator on the same machine, so it is as much the "
            "load generator's limit as the handler's"
            if lowest_name == "bare_http_handler_per_s"
            else ""
        )
        + ").",
        "",
    ]
    lines += _profile_section(results)
    lines += longrun.report_section(results)
    lines += _log_and_feed_sections(results)
    if "scaleout" in results:
        lines += scaleout.report_section(results)
    return "\n".join(lines)


#: The lean path's stages (issue 16, goal 1): what every signed submission cannot avoid.
LEAN_PATH = (
    "bare_http_handler_per_s",
    "ed25519_verify_per_s",
    "jws_parse_per_s",
    "ijson_parse_per_s",
    "validate_payload_per_s",
    "sqlite_batched_commit_per_s",
    "ack_sign_per_s",
)


def lean_ceiling(results: dict) -> tuple[float, float]:  # type: ignore[type-arg]
    """(µs of CPU per submission on the lean path, the rate that allows on two cores)."""
    c, details = results["ceilings"], results.get("ceiling_details", {})
    costs = []
    for name in LEAN_PATH:
        if name not in c:
            continue
        if name == "bare_http_handler_per_s" and "bare_http_handler" in details:
            h = details["bare_http_handler"]
            costs.append(h["server_cpu_seconds"] / h["requests"] * 1e6)
        else:
            costs.append(1e6 / c[name])
    total = sum(costs)
    return total, 2e6 / total


def _side_results(name: str) -> dict | None:  # type: ignore[type-arg]
    """The figures a stand-alone benchmark left in bench/NAME.json (reads, audit_scale), if it was run."""
    path = HERE / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _goals_section(results: dict) -> list[str]:  # type: ignore[type-arg]
    """Issue 16's goals, each a ratio to a ceiling or to another form of the same run where it can be."""
    runs = results["embedded"]
    single = [r for r in runs if r.get("batch", 1) == 1]
    at64 = next((r for r in single if r["clients"] == 64), max(single, key=lambda r: r["per_second"]))
    batched = next((r for r in runs if r.get("batch", 1) > 1), None)
    cost, ceiling = lean_ceiling(results)
    rows: list[tuple[str, str, bool | None, str]] = []
    ratio = at64["per_second"] / ceiling
    rows.append(
        (
            "1. embedded, single submissions, 64 clients: ≥ 50% of the lean-path ceiling",
            f"{at64['per_second']:,.0f}/s of {ceiling:,.0f}/s ({cost:,.0f} µs a submission on 2 cores): {ratio:.0%}",
            ratio >= 0.5,
            "CPU: the gateway's aiohttp request handling and the worker's transaction (Where the time goes)",
        )
    )
    rows.append(
        (
            "1. POST until visible in the feed: p99 < 250 ms (64 clients)",
            f"{at64['feed_p99_ms']:,.0f} ms",
            at64["feed_p99_ms"] < 250,
            "the worker's backlog on two saturated cores (Goals, below)",
        )
    )
    if batched is not None:
        times = batched["per_second"] / at64["per_second"]
        rows.append(
            (
                f"2. batch endpoint ({batched['batch']} a request): ≥ 2× single submissions",
                f"{batched['per_second']:,.0f}/s, {times:.2f}× the {at64['per_second']:,.0f}/s of single ones",
                times >= 2,
                "the worker: batches cut the gateway's HTTP cost, not the worker's (CPU µs each, End to end)",
            )
        )
    scale = results.get("scaleout", {})
    one = next((r for r in scale.get("runs", []) if r["workers"] == 1), None)
    if one is not None:
        share = one["per_second"] / at64["per_second"]
        rows.append(
            (
                "3. scale-out, 1 gateway + 1 worker on the same 2 cores: ≥ 70% of embedded",
                f"{one['per_second']:,.0f}/s, {share:.0%} of {at64['per_second']:,.0f}/s",
                share >= 0.7,
                "PostgreSQL and RabbitMQ share the two cores (Where the time goes in the scale-out form)",
            )
        )
    else:
        rows.append(("3. scale-out: ≥ 70% of embedded", scale.get("skipped", "not run"), None, ""))
    fan = results["fanout"][-1] if results.get("fanout") else None  # the run at 100 changes a second
    if fan is not None:
        complete = fan["events_delivered"] == fan["events_expected"]
        rows.append(
            (
                "4. fan-out, 100 SSE + 50 webhooks at 100 changes/s: all delivered, p99 < 1 s",
                f"{fan['events_delivered']:,} of {fan['events_expected']:,}, p99 {fan['latency_p99_ms']:,.0f} ms",
                complete and fan["latency_p99_ms"] < 1000,
                "the gateway's one core: each event is written to 150 subscribers (Feed fan-out)",
            )
        )
    held = results.get("held_open")
    if held is not None:
        rss = [m for _, m in held["rss_mb_samples"]]
        growth = max(rss) - held["rss_mb_opened"] if rss else 0.0
        rows.append(
            (
                f"4. {held['sse_clients']:,} SSE clients held open with flat memory",
                f"{held['rss_mb_opened']:.0f} MB once open, at most {growth:+.0f} MB while changes flow",
                growth <= 10,
                "",
            )
        )
    reads = _side_results("reads")
    if reads is not None:
        by_goal: dict[str, float] = {}
        for query in reads["queries"].values():
            by_goal[query["goal"]] = max(by_goal.get(query["goal"], 0.0), query["p99_ms"])
        limits = {"search": 50.0, "record": 10.0, "changes": 50.0}
        rows.append(
            (
                f"5. reads at {reads['records']:,} records: search p99 < 50 ms, record < 10 ms, 1,000 changes < 50 ms",
                ", ".join(f"{goal} p99 {ms:.0f} ms" for goal, ms in by_goal.items()),
                all(ms < limits.get(goal, 50.0) for goal, ms in by_goal.items()),
                "a page of 1,000 changes with their records: reading and sending 2 MB (Reads at scale)",
            )
        )
    audit = _side_results("audit_scale")
    if audit is not None:
        rows.append(
            (
                "6. exchange verify ≥ 10,000/s; exchange follow ≥ 5,000/s (initial copy)",
                f"verify {audit['verify_per_second']:,}/s, follow {audit['follow_per_second']:,}/s "
                f"({audit['submissions']:,} submissions)",
                audit["verify_per_second"] >= 10_000 and audit["follow_per_second"] >= 5_000,
                "Ed25519 verification and the log-order checks (Audit and copy at scale)",
            )
        )
    long = results.get("longrun")
    if long:
        growth = max((p["end_mb"] - p["start_mb"] for p in long["processes"]), default=0.0)
        rows.append(
            (
                f"7. flat over a {long['planned_seconds'] / 60:g}-minute run: last minute ≥ 95% of the first",
                f"last minute {long['decided_ratio']:.0%} of the first's rate; largest memory growth {growth:+.0f} MB",
                growth <= 10 and long["decided_ratio"] >= 0.95,
                "the repository grows as it runs: larger indexes make each commit dearer (Long run)",
            )
        )
    each = 1e6 / at64["submissions"]
    gateway, worker = at64.get("gateway_cpu_seconds", 0) * each, at64.get("worker_cpu_seconds", 0) * each
    loadgen = at64["loadgen_cpu_seconds"] * each
    total = gateway + worker + loadgen
    busy = total * at64["per_second"] / 1e6
    limiting = "gateway" if gateway >= worker else "validation worker"

    def verdict(met: bool | None) -> str:
        return "–" if met is None else ("yes" if met else "no")

    return [
        "## Goals",
        "",
        "The goals of issue 16, each a ratio to a ceiling or to another form measured in this same run where it "
        "can be (machines of this kind differ by up to three times from hour to hour). Goals 5 and 6 come from "
        "their own benchmarks (`python -m bench.reads`, `python -m bench.audit_scale`), read from "
        "`bench/reads.json` and `bench/audit_scale.json` as they last ran.",
        "",
        "| goal | this run | met | what limits it |",
        "| --- | --- | --- | --- |",
        *(f"| {goal} | {value} | {verdict(met)} | {'' if met else why} |" for goal, value, met, why in rows),
        "",
        f"The lean-path ceiling is two cores divided by the sum of the per-stage costs in the ceilings table "
        f"below (bare HTTP handler, Ed25519 verification, JWS and I-JSON parsing, validation, batched SQLite "
        f"commit, signing the acknowledgment): {cost:,.0f} µs, {ceiling:,.0f}/s. What the pipeline spends "
        f"instead: at 64 clients every submission costs {gateway:,.0f} µs in the gateway, {worker:,.0f} µs in "
        f"the worker and {loadgen:,.0f} µs in the load generator, {total:,.0f} µs in all, and the run keeps "
        f"{busy:.1f} of the 2 cores busy, so the machine cannot pass about {2e6 / total:,.0f}/s on this path. "
        f"The costliest process is the {limiting}; the profile below (Where the time goes) breaks each process "
        "down by stage. POST-to-feed latency at 64 clients is set by the worker's backlog: on two saturated "
        "cores the worker decides at just the rate the gateway accepts, so a few hundred submissions wait in "
        "the queue. Scale-out cannot show growth with a second gateway and worker on this machine: it has no "
        "free core to give them.",
        "",
    ]


def _profile_section(results: dict) -> list[str]:  # type: ignore[type-arg]
    run = results.get("profile")
    if not run:
        return ["## Where the time goes", "", "(py-spy is not installed: no profile was taken.)", ""]
    each = 1e6 / run["submissions"]
    cpu = {
        "gateway": run["gateway_cpu_seconds"] * each,
        "worker 1": run["worker_cpu_seconds"] * each,
    }
    return profile.section(
        "## Where the time goes",
        f"A further 64-client run ({run['per_second']:,.0f}/s end to end) with py-spy sampling the gateway and the "
        f"worker at {profile.RATE} Hz (stages told apart by the frames of each sampled stack: bench/profile.py). "
        f"CPU per submission in that run: gateway {cpu['gateway']:,.0f} µs, worker {cpu['worker 1']:,.0f} µs, load "
        f"generator {run['loadgen_cpu_seconds'] * each:,.0f} µs.",
        cpu,
        run["profile"],
    )


def _stage(name: str) -> str:
    return name.removesuffix("_per_s").replace("_", " ").replace("http", "HTTP").replace("sqlite", "SQLite")


def _ceiling_cost(name: str, value: float, details: dict) -> str:  # type: ignore[type-arg]
    if name == "bare_http_handler_per_s" and "bare_http_handler" in details:
        h = details["bare_http_handler"]
        return f"{h['server_cpu_seconds'] / h['requests'] * 1e6:.0f} µs of server CPU"
    if name == "sqlite_batched_commit_per_s":
        return f"{1e6 / value:.1f} µs a row"
    return f"{1e6 / value:.1f} µs"


def _ceiling_notes(details: dict) -> list[str]:  # type: ignore[type-arg]
    """How the two ceilings that are not one in-process call on one core were measured."""
    lines = []
    if "bare_http_handler" in details:
        h = details["bare_http_handler"]
        lines += [
            f"Bare HTTP handler: `bench/bare_http.py`, one aiohttp route on uvloop run as `exchange serve` runs its "
            f"app, reading the whole body and answering 202 with {h['response_bytes']} bytes of JSON, in a process "
            f"of its own; the pipeline's load generator posts the same {h['request_bytes']:,}-byte signed bodies from "
            f"{h['clients']} clients over loopback, both on the same 2 cores: {h['requests']:,} requests in "
            f"{h['seconds']:.1f} s (202 p50 {h['ack_p50_ms']:.1f} ms, p99 {h['ack_p99_ms']:.1f} ms). The server used "
            f"{h['server_cpu_seconds']:.1f} CPU s ({h['server_cpu_seconds'] / h['seconds']:.0%} of a core), the load "
            f"generator {h['loadgen_cpu_seconds']:.1f} CPU s ({h['loadgen_cpu_seconds'] / h['seconds']:.0%} of a "
            f"core, {h['loadgen_cpu_seconds'] / h['requests'] * 1e6:.0f} µs a request).",
            "",
        ]
    if "sqlite_batched_commit" in details:
        d = details["sqlite_batched_commit"]
        lines += [
            f"Bare batched SQLite commit: one thread inserting rows of a {d['blob_bytes']:,}-byte blob (a signed "
            f"body) and 4 text columns, {d['batch']} to a transaction, into a database opened as the repository "
            f"opens its own (journal_mode={d['journal_mode'].upper()}, synchronous={d['synchronous']}, every COMMIT "
            f"durable): {d['rows']:,} rows in {d['seconds']:.1f} s.",
            "",
        ]
    return lines


def _log_and_feed_sections(results: dict) -> list[str]:  # type: ignore[type-arg]
    proofs, overhead = results["log_proofs"], results["log_overhead"]
    lines = [
        "## Transparency log",
        "",
        f"A log of {proofs['entries']:,} entries, appended through the repository's own code "
        f"({proofs['append_per_second']:,.0f} entries/s with their Merkle nodes), then {proofs['proofs']} "
        "random inclusion proofs requested over HTTP from `exchange serve` and each verified by the "
        "independent RFC 9162 verifier: "
        f"p50 {proofs['proof_p50_ms']:.2f} ms, p99 {proofs['proof_p99_ms']:.2f} ms, max {proofs['proof_max_ms']:.2f} ms "
        "(round trip included).",
        "",
        f"Appending to the log at the commit stage (canonical JSON of each entry and the Merkle nodes it "
        f"completes, in the same transaction): {overhead['decisions_per_second_with_log']:,.0f} decisions/s with "
        f"it, {overhead['decisions_per_second_without_log']:,.0f} without, an overhead of "
        f"{overhead['log_overhead']:.0%} of that stage. The whole worker stage (parse, validate, commit: "
        "everything the log touches; the signature was checked at the gateway) runs at "
        f"{overhead['worker_per_second_with_log']:,.0f}/s with the log and {overhead['worker_per_second_without_log']:,.0f}/s "
        f"without: {overhead['worker_log_overhead']:.0%}. The gateway's work is untouched by the log.",
        "",
        "## Feed fan-out",
        "",
        "`exchange serve` with 100 Server-Sent Events clients and 50 webhook subscriptions (receivers on "
        "loopback) following changes submitted at a steady rate; latency runs from POST to arrival. The "
        "clients, receivers and submitter share one process of the load generator.",
        "",
        "| changes | rate /s | events delivered | events/s | p50 ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run, rate in zip(results["fanout"], (25, 100), strict=True):
        lines.append(
            f"| {run['changes']} | {rate} | {run['events_delivered']:,} of {run['events_expected']:,} | "
            f"{run['events_per_second']:,.0f} | {run['latency_p50_ms']:.0f} | {run['latency_p99_ms']:.0f} |"
        )
    held = results.get("held_open")
    if held:
        rss = [m for _, m in held["rss_mb_samples"]]
        lines += [
            "",
            f"{held['sse_clients']:,} event streams held open while {held['changes']} changes flow at "
            f"{held['rate']:g}/s (`fanout.held_open`): {held['events_delivered']:,} of {held['events_expected']:,} "
            f"events delivered, p50 {held['latency_p50_ms']:.0f} ms, p99 {held['latency_p99_ms']:.0f} ms; the "
            f"server's resident memory {held['rss_mb_before']:.0f} MB before they open, {held['rss_mb_opened']:.0f} MB "
            f"once open, then from {rss[0]:.0f} to {rss[-1]:.0f} MB (peak {max(rss):.0f}) as the changes flow (the "
            "window of recent changes is bounded: 2,048 changes, about 32 MiB).",
        ]
    return [*lines, ""]


def command(args: argparse.Namespace) -> str:
    """The command line that produced these results."""
    options = [flag for flag, on in (("--quick", args.quick), ("--no-scaleout", args.no_scaleout)) if on]
    if args.count:
        options.append(f"--count {args.count}")
    if args.long_seconds is not None:
        options.append(f"--long-seconds {args.long_seconds:g}")
    return " ".join([".venv/bin/python -m bench", *options])


if __name__ == "__main__":
    main()
