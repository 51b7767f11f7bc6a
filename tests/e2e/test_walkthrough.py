"""The README walk-through, run as a user would: real processes, the command line, HTTP."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from exchange.envelope import SigningKey
from exchange.identifiers import FLATTENED_MEDIA_TYPE
from tests.e2e.process import Server, environment, exchange
from tests.support import variant

EXAMPLE = Path(str(resources.files("schemas") / "examples" / "law" / "gbr-computer-misuse-act-1990.json"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = environment(tmp_path / "data")
    server = Server(env)
    server.env["EXCHANGE_ORIGIN"] = server.url
    yield server
    server.stop()


def test_register_generate_submit_read(tmp_path: Path, server: Server) -> None:
    env = server.env
    generated = exchange(
        "keys", "generate", "--kid", "GBR/2026-01", "--out", str(tmp_path / "keys"), env=env, check=True
    )
    assert json.loads(generated.stdout)["kid"] == "GBR/2026-01"
    private = tmp_path / "keys" / "GBR_2026-01.private.pem"
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    exchange(
        "admin",
        "--init",
        "participant",
        "add",
        "GBR",
        "--name",
        "United Kingdom",
        "--type",
        "member_state",
        env=env,
        check=True,
    )
    added = exchange(
        "admin",
        "key",
        "add",
        "GBR/2026-01",
        "--public-key",
        str(tmp_path / "keys" / "GBR_2026-01.public.pem"),
        env=env,
        check=True,
    )
    assert json.loads(added.stdout)["status"] == "active"
    created = exchange("admin", "token", "create", "--participant", "GBR", "--role", "participant", env=env, check=True)
    token = created.stdout.strip()
    assert token.startswith("xt_") and "\n" not in token
    assert "shown only now" in created.stderr
    listed = exchange("admin", "token", "list", env=env, check=True)
    assert token not in listed.stdout

    server.start()
    args = ["--url", server.url, "--kid", "GBR/2026-01", "--key", str(private), "--token", token]
    law = tmp_path / "law" / EXAMPLE.name
    law.parent.mkdir()
    law.write_bytes(EXAMPLE.read_bytes())
    submitted = exchange("submit", str(law), *args, "--receipts", env=env)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "accepted GBR/law/gbr-computer-misuse-act-1990 version 1" in submitted.stdout
    receipt = json.loads((tmp_path / "law" / f"{EXAMPLE.name}.receipt.json").read_text())
    assert set(receipt) == {"log_index", "entry", "inclusion_proof", "checkpoint"}

    with urllib.request.urlopen(f"{server.url}/v1/records/GBR/law/gbr-computer-misuse-act-1990") as response:  # noqa: S310
        record = json.loads(response.read())
    assert record["content"] == json.loads(EXAMPLE.read_text(encoding="utf-8"))

    broken = tmp_path / "law" / "broken.json"
    broken.write_text(json.dumps({"jurisdiction": "GBR"}))
    rejected = exchange("submit", str(broken), *args, env=env)
    assert rejected.returncode == 1
    assert "rejected GBR/law/broken" in rejected.stdout and "/record/title" in rejected.stdout

    nothing = exchange("submit", *args, env=env)
    assert nothing.returncode == 2 and "--action withdraw with --kind and --record-id" in nothing.stderr
    withdrawn = exchange(
        "submit", *args, "--action", "withdraw", "--kind", "law", "--record-id", "gbr-computer-misuse-act-1990", env=env
    )
    assert withdrawn.returncode == 0, withdrawn.stdout + withdrawn.stderr
    assert withdrawn.stdout.startswith("GBR/law/gbr-computer-misuse-act-1990: accepted")
    assert "version 2" in withdrawn.stdout

    unreachable = exchange(
        "submit", str(EXAMPLE), "--url", "http://127.0.0.1:9", "--kid", "GBR/2026-01", "--key", str(private), env=env
    )
    assert unreachable.returncode == 3

    revoked = exchange("admin", "key", "revoke", "GBR/2026-01", "--reason", "rotation", env=env, check=True)
    assert json.loads(revoked.stdout)["status"] == "revoked"
    assert "revoked" in exchange("admin", "key", "list", env=env, check=True).stdout
    assert exchange("check", "--url", server.url, env=env).returncode == 0


def test_unknown_setting_stops_the_command(tmp_path: Path) -> None:
    env = environment(tmp_path, prot="1")
    result = exchange("settings", env=env)
    assert result.returncode == 1
    assert "EXCHANGE_PROT" in result.stderr


def test_check_fails_when_nothing_listens(tmp_path: Path) -> None:
    assert exchange("check", "--url", "http://127.0.0.1:9", env=environment(tmp_path)).returncode == 1


def test_gateway_and_a_burst_worker_as_separate_processes(tmp_path: Path) -> None:
    """The gateway alone only queues; `exchange worker validate --burst` decides what waits, then exits."""
    import asyncio

    from exchange.envelope import SigningKey
    from tests.support import Signer

    env = environment(tmp_path / "data", serve_workers="0")
    server = Server(env)
    server.env["EXCHANGE_ORIGIN"] = server.url
    key = SigningKey.generate("GBR/2026-01")
    (tmp_path / "key.jwk").write_text(json.dumps(key.public_jwk))
    exchange(
        "admin",
        "--init",
        "participant",
        "add",
        "GBR",
        "--name",
        "UK",
        "--type",
        "member_state",
        env=server.env,
        check=True,
    )
    exchange("admin", "key", "add", key.kid, "--public-key", str(tmp_path / "key.jwk"), env=server.env, check=True)
    token = exchange("admin", "token", "create", "--role", "auditor", env=server.env, check=True).stdout.strip()
    signer = Signer(key, audience=server.url)
    record = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    server.start()
    try:
        import aiohttp

        async def submit_all() -> list[str]:
            async with aiohttp.ClientSession() as session:
                ids = []
                for n in range(5):
                    payload = signer.payload(variant(record, n), record_id=f"act-{n}")
                    async with session.post(
                        server.url + "/v1/submissions",
                        data=signer.sign_payload(payload),
                        headers={"Content-Type": FLATTENED_MEDIA_TYPE},
                    ) as response:
                        assert response.status == 202
                    ids.append(payload["submission_id"])
                return ids

        async def statuses(ids: list[str]) -> list[str]:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
                out = []
                for sid in ids:
                    async with session.get(f"{server.url}/v1/submissions/GBR/{sid}") as response:
                        out.append((await response.json())["status"])
                return out

        ids = asyncio.run(submit_all())
        assert asyncio.run(statuses(ids)) == ["received"] * 5
        burst = exchange("worker", "validate", "--burst", env=server.env, check=True)
        assert "decided 5 submission(s)" in burst.stderr
        assert asyncio.run(statuses(ids)) == ["accepted"] * 5
    finally:
        server.stop()


def test_admin_commands_against_a_running_server(tmp_path: Path, server: Server) -> None:
    """`exchange admin --url` does over the admin API what the local commands do on the database."""
    env = server.env
    admin_token = exchange("admin", "--init", "token", "create", "--role", "admin", env=env, check=True).stdout.strip()
    server.start()
    remote = {k: v for k, v in env.items() if k != "EXCHANGE_DATA_DIR"}  # nothing local to fall back on
    remote["EXCHANGE_DATA_DIR"] = str(tmp_path / "elsewhere")
    via = ("admin", "--url", server.url, "--token", admin_token)
    added = exchange(*via, "participant", "add", "FRA", "--name", "France", "--type", "member_state", env=remote)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["id"] == "FRA" and f"server: {server.url}" in added.stderr
    key = SigningKey.generate("FRA/2026-01")
    (tmp_path / "fra.jwk").write_text(json.dumps(key.public_jwk))
    added_key = exchange(*via, "key", "add", "FRA/2026-01", "--public-key", str(tmp_path / "fra.jwk"), env=remote)
    assert added_key.returncode == 0, added_key.stderr
    assert json.loads(added_key.stdout)["kid"] == "FRA/2026-01"
    made = exchange(*via, "token", "create", "--role", "participant", "--participant", "FRA", env=remote)
    assert made.returncode == 0 and made.stdout.strip().startswith("xt_")
    # The same listings as the local commands print, line for line.
    for listing in (("participant", "list"), ("key", "list"), ("token", "list"), ("dead-letters", "list")):
        there = exchange(*via, *listing, env=remote)
        here = exchange("admin", *listing, env=env)
        assert there.returncode == here.returncode == 0, there.stderr + here.stderr
        assert there.stdout == here.stdout, listing
    listed = exchange("admin", "token", "list", env=env, check=True).stdout.splitlines()
    token_id = next(line.split()[0] for line in listed if " FRA " in line)
    assert exchange(*via, "token", "revoke", token_id, env=remote).returncode == 0
    assert exchange(*via, "token", "revoke", "tok_nothing", env=remote).returncode == 1
    refused = exchange("admin", "--url", server.url, "--token", "xt_wrong", "token", "list", env=remote)
    assert refused.returncode == 1 and "401" in refused.stderr
    bad = exchange(*via, "participant", "add", "XXX", "--name", "Nowhere", "--type", "member_state", env=remote)
    assert bad.returncode == 1 and "/id" in bad.stderr
    assert not (tmp_path / "elsewhere").exists()
