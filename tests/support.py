"""Test helpers: settings on a temporary data directory, participants with keys, signed submissions."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from exchange.envelope import SigningKey
from exchange.identifiers import participant_of_kid
from exchange.settings import Settings

REQUIRE_SERVICES = os.environ.get("EXCHANGE_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("EXCHANGE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("EXCHANGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
SHARED = Path(__file__).resolve().parents[2] / "shared"


def unavailable(service: str, reason: str) -> None:
    """Skip (or, under EXCHANGE_REQUIRE_SERVICES=1, fail) a test whose service cannot be reached."""
    message = f"{service} is not reachable: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (EXCHANGE_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared reference folder sits beside the checkout)")
    return path


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "origin": "https://repository.test",
        "sqlite_synchronous": "NORMAL",
        "worker_poll_interval": 0.01,
        "queue_lease_seconds": 1.0,
        "retry_delay": 0.05,
        "key_cache_seconds": 0.0,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings.model_validate(values)


def example(kind: str, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """A packaged example record: (record_id, record)."""
    folder = resources.files("schemas") / "examples" / kind
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    chosen = next(f for f in files if name is None or f.name == f"{name}.json")
    return chosen.name.removesuffix(".json"), json.loads(chosen.read_text(encoding="utf-8"))


def example_for(kind: str, jurisdiction_field_owner: str) -> tuple[str, dict[str, Any]]:
    """An example whose primary jurisdiction is ``jurisdiction_field_owner``."""
    folder = resources.files("schemas") / "examples" / kind
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if not f.name.endswith(".json"):
            continue
        record = json.loads(f.read_text(encoding="utf-8"))
        if jurisdiction_field_owner in json.dumps(record):
            return f.name.removesuffix(".json"), record
    raise LookupError(f"no {kind} example about {jurisdiction_field_owner}")


def now_z() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Signer:
    """A participant's key and the payloads it signs."""

    key: SigningKey
    audience: str = "https://repository.test"
    sent: list[str] = field(default_factory=list)

    @property
    def participant(self) -> str:
        return participant_of_kid(self.key.kid)

    def payload(self, record: Any = None, **overrides: Any) -> dict[str, Any]:
        kind = overrides.pop("kind", "law")
        payload: dict[str, Any] = {
            "submission_id": str(uuid.uuid4()),
            "participant": self.participant,
            "audience": self.audience,
            "created_at": now_z(),
            "action": "upsert",
            "kind": kind,
            "schema": f"{kind}/1",
            "record_id": "penal-code",
            "record": record,
        }
        payload.update(overrides)
        if payload["action"] == "withdraw" and payload.get("record") is None:
            del payload["record"]
        return {k: v for k, v in payload.items() if v is not None or k == "record"}

    def sign_payload(self, payload: dict[str, Any]) -> bytes:
        self.sent.append(payload["submission_id"])
        return json.dumps(self.key.sign_jws(json.dumps(payload).encode())).encode()

    def submission(self, record: Any = None, **overrides: Any) -> bytes:
        return self.sign_payload(self.payload(record, **overrides))
