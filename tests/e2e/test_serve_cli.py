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


def test_admin_refuses_a_repository_that_does_not_exist(tmp_path: Path) -> None:
    env = environment(tmp_path / "nowhere")
    result = exchange("admin", "participant", "list", env=env)
    assert result.returncode == 1
    assert f"there is no repository at {tmp_path / 'nowhere' / 'exchange.db'}" in result.stderr
    assert not (tmp_path / "nowhere").exists()
    created = exchange("admin", "--init", "participant", "list", env=env)
    assert created.returncode == 0, created.stderr
    assert f"database: {tmp_path / 'nowhere' / 'exchange.db'}" in created.stderr
    again = exchange("admin", "participant", "list", env=env)
    assert again.returncode == 0, again.stderr


def test_admin_token_expiry_on_the_command_line(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    created = exchange("admin", "--init", "token", "create", "--role", "auditor", "--expires", "90d", env=env)
    assert created.returncode == 0, created.stderr
    listed = exchange("admin", "token", "list", env=env)
    assert listed.returncode == 0 and "expires" in listed.stdout
    bad = exchange("admin", "token", "create", "--role", "auditor", "--expires", "soon", env=env)
    assert bad.returncode == 2 and "--expires" in bad.stderr


def test_keys_go_to_a_folder_of_the_users_own_by_default(tmp_path: Path) -> None:
    import stat

    env = {**environment(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    made = exchange("keys", "generate", "--kid", "EST/2026-01", env=env)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "config" / "exchange" / "keys"
    assert f"keys written to {folder}" in made.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "EST_2026-01.private.pem").stat().st_mode) == 0o600
    assert (folder / "EST_2026-01.public.jwk").exists()


def test_adding_a_participant_again_changes_nothing_and_another_type_is_refused(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    add = ("participant", "add", "GBR", "--type", "member_state", "--name")
    first = exchange("admin", "--init", *add, "United Kingdom", env=env)
    assert first.returncode == 0, first.stderr
    again = exchange("admin", *add, "UK", env=env)
    assert again.returncode == 0, again.stderr
    assert "GBR is registered already (as 'United Kingdom'): nothing changed" in again.stderr
    assert '"name": "United Kingdom"' in again.stdout
    other = exchange("admin", "participant", "add", "GBR", "--type", "observer_state", "--name", "UK", env=env)
    assert other.returncode == 1 and "registered already as member_state, not observer_state" in other.stderr
