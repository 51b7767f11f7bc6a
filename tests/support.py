"""Test helpers: settings on a temporary data directory, participants with keys, signed submissions."""

from __future__ import annotations

import errno
import json
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import pytest

from exchange.envelope import SigningKey
from exchange.identifiers import KINDS, participant_of_kid
from exchange.settings import Settings

REQUIRE_SERVICES = os.environ.get("EXCHANGE_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("EXCHANGE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("EXCHANGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
SHARED = Path(__file__).resolve().parents[2] / "shared"


def unavailable(service: str, reason: str | BaseException) -> NoReturn:
    """Skip (or, under EXCHANGE_REQUIRE_SERVICES=1, fail) a test whose service cannot be reached.

    Only a failure to reach the service is a reason to skip: a service that answers and refuses (bad
    credentials, a missing database, a protocol error) is misconfigured, and that fails the test always.
    """
    if isinstance(reason, BaseException) and not _is_unreachable(reason):
        pytest.fail(f"{service} answered but refused: {type(reason).__name__}: {reason}")
    detail = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else reason
    message = f"{service} is not reachable: {detail}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (EXCHANGE_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def _is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says nothing answered: refused, unreachable, unknown host or timed out.

    aio-pika wraps the socket error in its own ConnectionError subclass, keeping the errno as the first
    argument; without one (an authentication refusal, a protocol error) the broker did answer.
    """
    if any(cls.__name__ == "AMQPError" for cls in type(exc).__mro__):
        code = exc.args[0] if exc.args else None
        return type(code) is int and (code in _UNREACHABLE_ERRNOS or code < 0)  # negative: a getaddrinfo error
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    return isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS


_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.EADDRNOTAVAIL}


def reference_missing(what: str) -> NoReturn:
    """Skip (or, under EXCHANGE_REQUIRE_SERVICES=1, fail) a test whose shared reference data is absent."""
    message = f"reference data missing: {what} (the shared reference folder sits beside the checkout)"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (EXCHANGE_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reference_missing(f"{path} is absent")
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


def examples() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every packaged example record, kind by kind: (kind, record_id, record)."""
    root = resources.files("schemas") / "examples"
    for kind in KINDS:
        for item in sorted((root / kind).iterdir(), key=lambda entry: entry.name):
            if item.name.endswith(".json"):
                yield kind, item.name.removesuffix(".json"), json.loads(item.read_text(encoding="utf-8"))


def example_owner(kind: str, record: dict[str, Any]) -> str:
    """The participant an example is written for: an activity's provider, an assessing organisation, else
    the State of its primary jurisdiction."""
    if kind == "assistance":
        return str(next(p["participant"] for p in record["providers"] if "participant" in p))
    assessed_by = record.get("source", {}).get("assessed_by") if kind == "need" else None
    return str(assessed_by or record["jurisdiction"])


def example(kind: str, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """A packaged example record: (record_id, record)."""
    folder = resources.files("schemas") / "examples" / kind
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    chosen = next(f for f in files if name is None or f.name == f"{name}.json")
    return chosen.name.removesuffix(".json"), json.loads(chosen.read_text(encoding="utf-8"))


def example_for(kind: str, jurisdiction_field_owner: str) -> tuple[str, dict[str, Any]]:
    """An example whose primary jurisdiction is ``jurisdiction_field_owner``, without its document
    identifiers, so that tests may store it under several record ids (one document identifier belongs
    to one record of a participant)."""
    folder = resources.files("schemas") / "examples" / kind
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if not f.name.endswith(".json"):
            continue
        record = json.loads(f.read_text(encoding="utf-8"))
        if jurisdiction_field_owner in json.dumps(record):
            record.pop("identifiers", None)
            return f.name.removesuffix(".json"), record
    raise LookupError(f"no {kind} example about {jurisdiction_field_owner}")


def variant(record: dict[str, Any], n: int) -> dict[str, Any]:
    """Version ``n`` of a test record: a citation of its own (so that it is a new version, not
    unchanged) and no document identifiers (so that it may be stored under any record id)."""
    changed = {k: v for k, v in record.items() if k != "identifiers"}
    changed["citation"] = f"{record.get('citation', '')} ({n})"
    return changed


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
