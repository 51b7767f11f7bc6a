"""Every command block of README.md, run unchanged and in order against a real ``exchange demo``.

Convention (in README.md): every fenced ``sh`` or ``bash`` block is run, unless the line just before it is
an HTML comment:

- ``<!-- not run: REASON -->``: skipped (it installs, starts servers of its own, needs services or
  addresses this machine does not have, or is written for a fresh repository); the reason says which.
- ``<!-- runs until stopped: REASON -->``: run for a few seconds and then stopped (an event stream);
  it passes when it is still running then, i.e. every command before the endless one succeeded.

Blocks run with ``bash`` (``set -euo pipefail``) in a fresh folder, as a reader would in a checkout: it
holds a link to the checkout's ``schemas/`` and the demo's ``exchange-data/`` (the demo runs there on a
free port, and writes ``exchange-data/demo.env``, which a block of the README sources). Variables and
functions a block sets are kept for the blocks after it, as in one terminal. ``curl`` fails on an HTTP
error status here (a ``.curlrc`` in the reader's home), so a command that is answered 4xx or 5xx fails.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.process import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
STOPPED_AFTER = 5.0  # seconds a "runs until stopped" block is given


@dataclass(frozen=True)
class Block:
    heading: str
    line: int
    code: str
    skip: str | None  # the reason it is not run
    until_stopped: bool

    @property
    def name(self) -> str:
        first = next((row for row in self.code.splitlines() if row.strip()), "")
        return f"README.md:{self.line} ({self.heading}): {first}"


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    heading = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        row = lines[index]
        if row.startswith("#"):
            heading = row.lstrip("#").strip()
        fence = re.fullmatch(r"```(\w*)", row)
        if fence:
            end = lines.index("```", index + 1)
            if fence.group(1) in ("sh", "bash"):
                before = lines[index - 1] if index else ""
                comment = re.fullmatch(r"<!-- (not run|runs until stopped): (.+) -->", before)
                found.append(
                    Block(
                        heading,
                        index + 1,
                        "\n".join(lines[index + 1 : end]),
                        comment.group(2) if comment and comment.group(1) == "not run" else None,
                        bool(comment and comment.group(1) == "runs until stopped"),
                    )
                )
            index = end
        index += 1
    return found


def test_the_convention_is_parsed() -> None:
    found = blocks(README.read_text(encoding="utf-8"))
    assert any(b.skip for b in found) and any(b.until_stopped for b in found)
    assert sum(1 for b in found if b.skip is None) >= 8
    assert all(b.skip.strip() for b in found if b.skip is not None)


# Run one block: restore what earlier blocks set, run it, save what it set (names new since the start).
WRAPPER = """set -euo pipefail
__before=$(compgen -v)
[ -f "$README_STATE" ] && . "$README_STATE"
. "$README_BLOCK"
{ for __name in $(compgen -v | grep -vxF -e __name -e __before -f <(printf '%s\\n' "$__before")); do
    declare -p "$__name"; done; declare -f; } > "$README_STATE.new"
mv "$README_STATE.new" "$README_STATE"
"""


def wait_for_demo(log: Path, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if any(line.startswith("demo: ") for line in text.splitlines()):
            assert "not loaded" not in text, text
            return
        assert process.poll() is None, text
        time.sleep(0.2)
    raise AssertionError(f"the demo did not load:\n{log.read_text(errors='replace')}")


def test_every_command_block_of_the_readme_runs_against_the_demo(tmp_path: Path) -> None:
    home = tmp_path / "reader"
    home.mkdir()
    (home / "schemas").symlink_to(ROOT / "schemas")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    (home / ".curlrc").write_text("fail-with-body\n", encoding="utf-8")  # an HTTP error fails its block
    env["EXCHANGE_LOG_LEVEL"] = "WARNING"
    env["README_STATE"] = str(tmp_path / "state.sh")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            ["exchange", "demo", "--port", str(free_port())], cwd=home, env=env, stdout=out, stderr=out
        )
    try:
        wait_for_demo(log, demo)
        assert (home / "exchange-data" / "demo.env").is_file()
        ran = 0
        for number, block in enumerate(blocks(README.read_text(encoding="utf-8"))):
            if block.skip is not None:
                continue
            script = tmp_path / f"block-{number}.sh"
            script.write_text(block.code + "\n", encoding="utf-8")
            command = ["bash", "-c", WRAPPER]
            process = subprocess.Popen(
                command,
                cwd=home,
                env={**env, "README_BLOCK": str(script)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                output, _ = process.communicate(timeout=STOPPED_AFTER if block.until_stopped else 90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGTERM)
                output, _ = process.communicate()
                assert block.until_stopped, f"{block.name} did not finish:\n{output.decode(errors='replace')}"
                ran += 1
                continue
            text = output.decode(errors="replace")
            assert process.returncode == 0, f"{block.name} exited {process.returncode}:\n{text}"
            assert not block.until_stopped, f"{block.name} stopped by itself:\n{text}"
            ran += 1
        assert ran >= 8
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)
