"""``exchange serve`` as an operator meets it: a busy port is one line, not a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.e2e.process import environment, exchange


def test_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = exchange("serve", "--port", str(port), env=environment(tmp_path / "data"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: port {port} is in use; choose another with --port (or EXCHANGE_PORT)"
    ]
    assert not (tmp_path / "data" / "exchange.db").exists()  # nothing was opened or created
