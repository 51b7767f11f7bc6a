"""The demo: the packaged example records (real laws of many States, their case law, lessons, needs and
activities), loaded into a repository through its HTTP API as their owners would submit them.

Each owner (a State, or an organisation for the activities it provides and the needs it assessed) is
registered with the admin API and gets an Ed25519 key kept in a folder of the operator's (mode 0700,
each private key 0600); every record is signed with its owner's key and submitted like any other.
Loading twice changes nothing: participants and keys already registered are kept, and a record whose
current content is already the example's is not submitted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from exchange.client import SubmissionClient, build_payload, sign
from exchange.envelope import SigningKey
from exchange.identifiers import KINDS
from exchange.transport import TransportError

#: Organisations that own examples, with the jurisdictions they are granted (for the needs they assessed).
ORGANISATIONS = {
    "org:coe": ("Council of Europe", ("PHL",)),
    "org:unodc": ("United Nations Office on Drugs and Crime", ()),
}


@dataclass(frozen=True, slots=True)
class Example:
    kind: str
    record_id: str
    record: dict[str, Any]

    @property
    def owner(self) -> str:
        if self.kind == "assistance":
            return str(next(p["participant"] for p in self.record["providers"] if "participant" in p))
        assessed_by = self.record.get("source", {}).get("assessed_by") if self.kind == "need" else None
        return str(assessed_by or self.record["jurisdiction"])


def examples() -> Iterator[Example]:
    """Every packaged example, laws first (so that what refers to them comes after)."""
    root = resources.files("schemas") / "examples"
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
            if item.name.endswith(".json"):
                yield Example(kind, item.name.removesuffix(".json"), json.loads(item.read_text(encoding="utf-8")))


@dataclass(slots=True)
class Loaded:
    participants: int = 0
    keys: int = 0
    accepted: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)


class DemoError(Exception):
    """The demo could not be loaded; the message says why."""


def _key(folder: Path, participant: str) -> tuple[SigningKey, bool]:
    """The participant's demo key from ``folder``, made (0600) when there is none; True when new."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    name = participant.replace(":", "_")
    path = folder / f"{name}.demo.private.pem"
    kid = f"{participant}/demo-1"
    if path.exists():
        return SigningKey.from_file(kid, path), False
    key = SigningKey.generate(kid)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_pem())
    return key, True


def _name(participant: str, countries: dict[str, Any]) -> str:
    if participant in ORGANISATIONS:
        return ORGANISATIONS[participant][0]
    return str(countries.get(participant, {}).get("name", {}).get("en", participant))


async def load(url: str, admin_token: str, keys: Path, progress: Callable[[str], None] = lambda _: None) -> Loaded:
    """Register the owners and submit every example to the repository at ``url``."""
    countries = json.loads((resources.files("schemas") / "countries.json").read_text(encoding="utf-8"))["countries"]
    done = Loaded()
    async with SubmissionClient(url, admin_token) as client:
        info = await client.info()
        audience = info["origin"]
        transport = client.transport
        signers: dict[str, SigningKey] = {}
        for example in examples():
            owner = example.owner
            if owner not in signers:
                type_ = "intergovernmental_organization" if owner.startswith("org:") else "member_state"
                granted = list(ORGANISATIONS.get(owner, ("", ()))[1])
                answer = await transport.request(
                    "POST",
                    "/v1/admin/participants",
                    data=json.dumps(
                        {"id": owner, "name": _name(owner, countries), "type": type_, "jurisdictions": granted}
                    ).encode(),
                    content_type="application/json",
                )
                if answer.status == 201:
                    done.participants += 1
                elif answer.status != 409:
                    raise DemoError(f"registering {owner}: {answer.status} {answer.problem.message}")
                key, new = _key(keys, owner)
                registered = await transport.get_json("/v1/keys", params={"participant": owner})
                if new or key.kid not in {k.get("kid") for k in registered.get("keys", [])}:
                    answer = await transport.request(
                        "POST",
                        "/v1/admin/keys",
                        data=json.dumps({"kid": key.kid, "public_key": key.public_pem().decode()}).encode(),
                        content_type="application/json",
                    )
                    if answer.status != 201:
                        raise DemoError(f"registering key {key.kid}: {answer.status} {answer.problem.message}")
                    done.keys += 1
                signers[owner] = key
            where = f"{owner}/{example.kind}/{example.record_id}"
            current = await transport.get(f"/v1/records/{where}")
            if (
                current.status == 200
                and isinstance(current.body, dict)
                and current.body.get("content") == example.record
            ):
                done.unchanged += 1
                progress(f"unchanged {where}")
                continue
            payload = build_payload(
                participant=owner,
                audience=audience,
                kind=example.kind,
                record_id=example.record_id,
                record=example.record,
            )
            prepared = sign(payload, signers[owner])
            status, ack = await client.submit(prepared)
            if status != 202:
                done.rejected.append(f"{where}: {status} {ack.get('detail') if isinstance(ack, dict) else ack}")
                continue
            status, verdict = await client.wait(owner, prepared.submission_id)
            if verdict.get("status") == "accepted":
                done.accepted += 1
                progress(f"accepted {where}")
            else:
                errors = "; ".join(f"{e.get('pointer')} {e.get('message')}" for e in verdict.get("errors", []))
                done.rejected.append(f"{where}: {verdict.get('status')} {errors}")
    return done


async def wait_until_up(url: str, timeout: float = 30.0) -> None:
    """Wait for the service at ``url`` to answer ``/readyz``."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with SubmissionClient(url, timeout=5.0) as client:
        while True:
            with contextlib.suppress(TransportError):
                status, _ = await client.get_json("/readyz")
                if status == 200:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise DemoError(f"{url} did not become ready within {timeout:g} seconds")
            await asyncio.sleep(0.2)
