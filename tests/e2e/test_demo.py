"""``exchange demo`` as a person runs it (tests/e2e/test_readme.py runs the README's commands against it)."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.process import Server, environment, exchange
from tests.support import examples


def wait_for_line(server: Server, prefix: str, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line
        time.sleep(0.2)
    raise AssertionError(f"no line starting {prefix!r}:\n{server.log.read_text(errors='replace')}")


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (a local test server)
        return response.status, response.headers["Content-Type"], response.read()


def test_the_demo_loads_every_example_once_and_the_readme_examples_answer(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    server = Server(env, command=("demo",)).start()
    try:
        line = wait_for_line(server, "demo: ")
        expected = sum(1 for _ in examples())
        assert line.startswith(f"demo: {expected} record(s) accepted, 0 already there"), line
        assert "not loaded" not in server.log.read_text()
        keys = tmp_path / "data" / "demo-keys"
        assert keys.stat().st_mode & 0o777 == 0o700
        assert all(path.stat().st_mode & 0o777 == 0o600 for path in keys.iterdir())

        status, kind, body = get(f"{server.url}/v1/records?jurisdiction=ZAF&kind=law")
        assert status == 200 and body.count(b'"record_id"') == 2
        assert (tmp_path / "data" / "demo.env").read_text() == f"export EXCHANGE_CLIENT_URL={server.url}\n"
        status, kind, body = get(f"{server.url}/")
        assert status == 200 and kind.startswith("text/html") and b"Laws" in body

        # the periodic report, from the command line
        today = datetime.now(UTC).date().isoformat()
        printed = exchange("report", "--from", today, "--to", today, "--url", server.url, env=env, check=True)
        assert printed.stdout.startswith(f"# The repository from {today} to {today}")
        assert "| Africa | law |" in printed.stdout

        # loading again into the running service changes nothing
        token = exchange("admin", "token", "create", "--role", "admin", env=env, check=True).stdout.strip()
        again = exchange("demo", "--url", server.url, "--token", token, "--keys", str(keys), env=env)
        assert again.returncode == 0, again.stderr
        assert f"0 record(s) accepted, {expected} already there" in again.stderr
        assert token not in again.stderr and token not in server.log.read_text()
    finally:
        server.stop()
