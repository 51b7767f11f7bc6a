"""Run ``exchange`` as a real process, as an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env["EXCHANGE_DATA_DIR"] = str(data_dir)
    env["EXCHANGE_LOG_LEVEL"] = "WARNING"
    env.update({f"EXCHANGE_{k.upper()}": v for k, v in settings.items()})
    return env


def exchange(*args: str, env: dict[str, str], check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "exchange", *args], env=env, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exchange {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


class Server:
    """``exchange serve`` on a free port; stopped with SIGTERM or killed with SIGKILL."""

    def __init__(self, env: dict[str, str], port: int | None = None, command: tuple[str, ...] = ("serve",)) -> None:
        self.command = command
        self.port = port or free_port()
        self.env = {**env, "EXCHANGE_PORT": str(self.port)}
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(self.env["EXCHANGE_DATA_DIR"]) / f"server-{self.port}.log"

    def start(self) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "exchange", *self.command], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("server did not become ready")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
