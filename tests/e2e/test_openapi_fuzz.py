"""The API against its own OpenAPI document: schemathesis, every check on, against a real ``exchange demo``.

Every operation (the NDJSON batch aside: tests/e2e/test_batch_fuzz.py) is driven with an admin token
through schemathesis's phases (examples, coverage, fuzzing, stateful) with **every** check: no server
error, statuses, content types, headers and bodies as documented, schema-violating requests refused,
schema-valid requests accepted, authentication never ignored. ``tests/e2e/schemathesis.toml`` bounds
the examples per operation and names, for each operation with a rule a JSON Schema cannot state, the
422 it may answer a valid-looking request with. Any finding fails the test, with schemathesis's report
(and a ``curl`` to reproduce it) as the message.

The seed is fixed so that a run is reproducible; set ``EXCHANGE_FUZZ_SEED`` to explore others.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.process import Server, environment, exchange
from tests.e2e.test_demo import wait_for_line

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("st")


def test_every_schemathesis_check_passes_on_every_operation(tmp_path: Path) -> None:
    env = environment(
        tmp_path / "data",
        # one token drives thousands of requests: the per-token limits are tested in their own suites
        token_rate_limit="1000000",
        token_rate_burst="1000000",
        rate_limit="1000000",
        rate_burst="1000000",
        # the subscriptions created point at this server itself (config: body.url), never elsewhere
        webhooks_allow_private="true",
    )
    server = Server(env, command=("demo",)).start()
    try:
        wait_for_line(server, "demo: ")
        token = exchange("admin", "token", "create", "--role", "admin", env=env, check=True).stdout.strip()
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(CONFIG),
                "run",
                f"{server.url}/v1/openapi.json",
                "--checks",
                "all",
                "--header",
                f"Authorization: Bearer {token}",
                "--exclude-path-regex",
                ":batch$",
                "--seed",
                os.environ.get("EXCHANGE_FUZZ_SEED", "20261205"),
                "--generation-database",
                "none",
                "--no-color",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            env={**os.environ, "EXCHANGE_FUZZ_HOOK": f"{server.url}/healthz"},
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
        report = result.stdout + result.stderr
        assert "API Operations:" in report, report  # schemathesis ran, rather than failing to start
        assert result.returncode == 0, report
        tested = next(line for line in report.splitlines() if line.strip().startswith("Tested:"))
        assert int(tested.split(":")[1]) >= 45, report  # every operation but the batch was reached
    finally:
        server.stop()
