"""A 202 survives a power cut: the durability settings in force on the connections that write.

The answer 202 promises the receipt is durable; with SQLite that holds only if every connection that
writes receipts, queue rows and decisions runs in WAL mode with ``synchronous=FULL`` (NORMAL survives a
process crash, not a power cut, so it is only used when the settings ask for it). The pragmas are
read back on the writer connection of the running service, after a submission went through it, so a
connection opened or changed anywhere on the way is what gets checked.

A power-cut simulation is not attempted: Python's sqlite3 offers no way to interpose a VFS that would
drop the writes not yet fsynced, and copying the files of a live process reads them through the page
cache, so the copy holds every write, fsynced or not (exactly what a power cut loses): it would pass
with ``synchronous=OFF`` too and prove nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from exchange import admin
from exchange.repository.sqlite import SqliteRepository
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase
from tests.e2e.conftest import Service, register, start_service
from tests.support import example_for

SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _pragmas(conn: sqlite3.Connection) -> tuple[str, str]:
    synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return SYNCHRONOUS[synchronous], str(journal).lower()


async def _writers(service: Service) -> dict[str, tuple[str, str]]:
    """The pragmas of the connection that writes for the repository and for the queue."""
    databases: dict[str, SqliteDatabase] = {}
    repository, queue = service.services.repository, service.services.queue
    assert isinstance(repository, SqliteRepository)
    databases["repository"] = repository.db
    databases["queue"] = queue.db  # type: ignore[attr-defined]
    return {name: await db.write(_pragmas) for name, db in databases.items()}


async def _accept_one(service: Service) -> None:
    record_id, record = example_for("law", "GBR")
    verdict = await service.submit_and_wait(service.signer.submission(record, record_id=record_id))
    assert verdict["status"] == "accepted", verdict


async def _started(tmp_path: Path, **overrides: Any) -> Service:
    client, services = await start_service(tmp_path, overrides)
    signer = await register(services, "GBR")
    admin_secret, _ = await admin.create_token(services.repository, "admin", None)
    secret, _ = await admin.create_token(services.repository, "participant", "GBR")
    return Service(client, services, signer, admin_secret, secret)


def test_full_is_the_default() -> None:
    assert Settings.model_fields["sqlite_synchronous"].default == "FULL"


@pytest.mark.parametrize("separate_queue", [False, True], ids=["one-file", "queue-file-apart"])
async def test_every_writer_is_full_and_wal_by_default(tmp_path: Path, separate_queue: bool) -> None:
    overrides: dict[str, Any] = {"sqlite_synchronous": Settings.model_fields["sqlite_synchronous"].default}
    if separate_queue:
        overrides["queue_url"] = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    service = await _started(tmp_path, **overrides)
    try:
        await _accept_one(service)
        writers = await _writers(service)
    finally:
        await service.client.close()
    assert writers == {"repository": ("FULL", "wal"), "queue": ("FULL", "wal")}


async def test_normal_only_when_the_settings_ask(tmp_path: Path) -> None:
    service = await _started(tmp_path, sqlite_synchronous="NORMAL")
    try:
        await _accept_one(service)
        writers = await _writers(service)
    finally:
        await service.client.close()
    assert writers == {"repository": ("NORMAL", "wal"), "queue": ("NORMAL", "wal")}
