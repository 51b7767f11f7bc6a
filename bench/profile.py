"""Where the time goes: sampling profiles (py-spy) of the gateway and the worker under load, by stage.

py-spy samples the running processes from outside (no change to them) at :data:`RATE` Hz. Each
sample's stack is put in the first stage whose marker (a ``function (file`` prefix of a frame) it
holds, in the order of the tables below; a thread pool thread waiting for work counts as idle and is
left out. Shares are of the samples that remain, all threads of the process together.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 250

#: (stage, markers): the first stage with a marker in a sample's stack takes the sample.
GATEWAY: list[tuple[str, tuple[str, ...]]] = [
    ("Ed25519 verification of the submission", ("PublicKey.verify (",)),
    ("signing the acknowledgment", ("SigningKey.sign (",)),
    ("JWS and I-JSON parsing", ("parse (exchange/envelope.py", "loads (exchange/ijson.py")),
    ("SQLite: receipt and queue commit", ("_commit_batch", "receive_rows", "enqueue_rows")),
    ("PostgreSQL: the receipt (asyncpg)", ("exchange/repository/postgresql/", "asyncpg/")),
    (
        "RabbitMQ: publish and confirm (aio-pika)",
        ("exchange/queue/rabbitmq.py", "exchange/queue/amqp_messages.py", "aio_pika/", "aiormq/", "pamqp/"),
    ),
    ("event stream to the feed reader", ("changes (exchange/gateway/changes.py", "sse_event")),
    ("submission checks and receipt", ("Intake.", "Batcher.")),
    ("HTTP: aiohttp request and response", ("aiohttp/",)),
    ("event loop (uvloop: sockets, scheduling, waiting)", ("run_app (",)),
]
WORKER: list[tuple[str, tuple[str, ...]]] = [
    ("Ed25519 verification (no receipt)", ("PublicKey.verify (",)),
    ("JWS and I-JSON parsing", ("parse (exchange/envelope.py", "loads (exchange/ijson.py")),
    ("schema and rule validation", ("Validator.validate_payload",)),
    ("search index fields", ("index_fields", "exchange/validation/index.py")),
    ("log entries: canonical JSON and Merkle nodes", ("append_log", "leaf_hash", "exchange/transparency/")),
    ("sequencing and SQL of the decision", ("_decide (", "plan (exchange/sequencer.py", "SubmissionStore.decide")),
    ("queue: lease, acknowledge, receipts read", ("exchange/queue/", "get_submissions", "aio_pika/", "aiormq/")),
    ("PostgreSQL driver and pool (asyncpg)", ("exchange/repository/postgresql/", "asyncpg/")),
    ("SQLite: BEGIN, savepoints, COMMIT (fsync)", ("_commit_batch", "SqliteDatabase.read")),
    ("event loop (uvloop) and the rest", ("",)),
]


def available() -> bool:
    return (
        shutil.which("py-spy", path=str(Path(sys.executable).parent)) is not None or shutil.which("py-spy") is not None
    )


def start(pids: dict[str, int], folder: Path) -> list[tuple[str, Path, subprocess.Popen[bytes]]]:
    """Start sampling each named process into ``folder``; stop with :func:`stop`."""
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    spies = []
    for name, pid in pids.items():
        out = folder / f"{name}.txt"
        argv = [exe, "record", "--rate", str(RATE), "--format", "raw", "--output", str(out), "--pid", str(pid)]
        spies.append((name, out, subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    return spies


def stop(spies: list[tuple[str, Path, subprocess.Popen[bytes]]]) -> dict[str, Path]:
    for _, _, process in spies:
        process.send_signal(signal.SIGINT)
    for _, _, process in spies:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return {name: out for name, out, _ in spies if out.exists()}


def section(title: str, intro: str, cpu_us: dict[str, float], stages: dict[str, dict[str, float]]) -> list[str]:
    """A report section: each process's stages, their shares and the CPU per submission they stand for."""
    lines = [
        title,
        "",
        intro + " Each stage's share of a process's busy samples, and the CPU per submission that share stands for:",
        "",
        "| process | stage | share of samples | µs per submission |",
        "| --- | --- | --- | --- |",
    ]
    for name, shares_ in stages.items():
        for stage, share in sorted(shares_.items(), key=lambda item: -item[1]):
            lines.append(f"| {name} | {stage} | {share:.0%} | {share * cpu_us.get(name, 0):,.0f} |")
    return [*lines, ""]


def sampled(samples: dict[str, Path]) -> dict[str, dict[str, float]]:
    """Stage shares of each sampled process (``gateway``, ``worker N``)."""
    return {name: shares(path, GATEWAY if name == "gateway" else WORKER) for name, path in samples.items()}


def shares(path: Path, stages: list[tuple[str, tuple[str, ...]]]) -> dict[str, float]:
    """The share of the process's busy samples in each stage (py-spy raw format: ``frame;frame;… count``)."""
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        frames = stack.split(";")
        if "_worker (concurrent/futures/thread.py" in frames[-1]:
            continue  # a pool thread waiting for work
        stage = next((name for name, marks in stages if any(m in f for f in frames for m in marks)), "the rest")
        counts[stage] += int(number)
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name, _ in stages if counts[name]} | (
        {"the rest": counts["the rest"] / total} if counts["the rest"] else {}
    )
