"""The auditor's and the partner's side at scale: ``exchange verify`` over a whole repository and
``exchange follow``'s initial copy, each against a real ``exchange serve`` holding N signed submissions.

python -m bench.audit_scale                 # 100,000 submissions
python -m bench.audit_scale --count 20000   # smaller

The submissions are pre-signed by four States and posted through the gateway as in ``bench.pipeline``
(every one a new version), then the two commands run as a user runs them, timed from start to exit.
Goals (issue 16): verify at 10,000 submissions a second using every core, follow at 5,000 changes a
second. Writes bench/audit_scale.json and the "Audit and copy at scale" section of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from bench.__main__ import EXAMPLES
from bench.pipeline import _post_all, _wait_decided, prepare
from bench.sections import write_section
from exchange import loops
from tests.e2e.process import Server, environment, exchange

HERE = Path(__file__).resolve().parent


def _command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m exchange ARGS`` as a user runs it (no time limit but the bench's own)."""
    return subprocess.run(
        [sys.executable, "-m", "exchange", *args], env=env, capture_output=True, text=True, timeout=3600
    )


def run(count: int) -> dict[str, Any]:
    folder = resources.files("schemas") / "examples" / "law"
    records = {p: json.loads((folder / f"{name}.json").read_text(encoding="utf-8")) for p, name in EXAMPLES.items()}
    with tempfile.TemporaryDirectory(prefix="exchange-bench-audit-") as tmp:
        env = environment(Path(tmp) / "data", rate_limit="1000000", rate_burst="1000000", checkpoint_interval="1")
        server = Server(env)
        server.env["EXCHANGE_ORIGIN"] = server.url
        print(f"signing {count:,} submissions…", flush=True)
        bodies = prepare(server.env, server.url, records, count)
        token = exchange("admin", "token", "create", "--role", "auditor", env=server.env, check=True).stdout.strip()
        server.start()
        try:
            print("posting them…", flush=True)
            loops.run(_post_all(server.url, bodies, 64))
            loops.run(_wait_decided(server.url, token, bodies))
            time.sleep(3)  # a signed checkpoint covering everything
            print("exchange verify…", flush=True)
            began = time.perf_counter()
            verified = _command("verify", server.url, "--token", token, "--quiet", env=server.env)
            verify_seconds = time.perf_counter() - began
            assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]
            print("exchange follow --once…", flush=True)
            began = time.perf_counter()
            copy = Path(tmp) / "copy.ndjson"
            followed = _command("follow", server.url, "--out", str(copy), "--once", "--mode", "pull", env=server.env)
            follow_seconds = time.perf_counter() - began
            assert followed.returncode == 0, followed.stderr[-2000:]
        finally:
            server.stop()
    return {
        "submissions": count,
        "cores": os.cpu_count(),
        "verify_seconds": round(verify_seconds, 1),
        "verify_per_second": round(count / verify_seconds),
        "follow_seconds": round(follow_seconds, 1),
        "follow_per_second": round(count / follow_seconds),
    }


def report(result: dict[str, Any], command: str) -> str:
    verify_met = "met" if result["verify_per_second"] >= 10_000 else "not met"
    follow_met = "met" if result["follow_per_second"] >= 5_000 else "not met"
    return "\n".join(
        [
            "## Audit and copy at scale",
            "",
            f"`{command}`: a real `exchange serve` holding {result['submissions']:,} signed submissions (four "
            f"States, every one a new version), {result['cores']} cores. Each command timed from start to exit, "
            "as a user runs it.",
            "",
            "| command | seconds | per second | goal | |",
            "| --- | ---: | ---: | ---: | --- |",
            f"| `exchange verify URL --token …` (download, then check everything) | {result['verify_seconds']} | "
            f"{result['verify_per_second']:,} | 10,000 | {verify_met} |",
            f"| `exchange follow URL --out FILE --once --mode pull` (initial copy) | {result['follow_seconds']} | "
            f"{result['follow_per_second']:,} | 5,000 | {follow_met} |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    result = run(args.count)
    print(result, flush=True)
    (HERE / "audit_scale.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    command = "python -m bench.audit_scale" + (f" --count {args.count}" if args.count != 100_000 else "")
    write_section("Audit and copy at scale", report(result, command))


if __name__ == "__main__":
    main()
