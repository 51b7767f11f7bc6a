"""The key directory as published, bound to the key events of the log.

Every key in the directory must have its addition in the log with the same thumbprint (recomputed here
from the JWK), and a revoked key its revocation, at the time the directory states. A submission may
only be signed by a key whose addition the log records before the submission's entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exchange import times
from exchange.auditor.report import Report
from exchange.publickeys import PublicKey, from_directory_entry, jwk_thumbprint


@dataclass
class KeyDirectory:
    """Keys by kid, and where the log records their addition and revocation."""

    keys: dict[str, PublicKey] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    revoked: dict[str, int] = field(default_factory=dict)
    latest_event: datetime | None = None

    @classmethod
    def load(cls, documents: list[dict[str, Any]], report: Report) -> KeyDirectory:
        directory = cls()
        for document in documents:
            kid = str(document.get("kid"))
            where = f"key {kid} (directory)"
            try:
                key = from_directory_entry(document)
            except ValueError as exc:
                report.fail(where, f"not a usable public key: {exc}")
                continue
            if kid in directory.keys:
                report.fail(where, "listed twice")
            if document.get("thumbprint") not in (None, key.thumbprint):
                report.fail(where, "its 'thumbprint' is not the RFC 7638 thumbprint of its JWK")
            if not kid.startswith(key.participant + "/"):
                report.fail(where, f"belongs to {key.participant}, which its kid does not name")
            directory.keys[kid] = key
        report.count("keys", len(directory.keys))
        return directory

    def get(self, kid: str) -> PublicKey | None:
        return self.keys.get(kid)

    def on_event(self, index: int, fields: dict[str, Any], report: Report) -> None:
        """Check one key event of the log against the directory."""
        action, kid = fields.get("action"), str(fields.get("kid"))
        where = f"log entry {index} (key {kid} {action})"
        raw_at = fields.get("at")
        at = times.parse(raw_at) if isinstance(raw_at, str) and raw_at else None
        if at is not None and (self.latest_event is None or at > self.latest_event):
            self.latest_event = at
        key = self.keys.get(kid)
        if key is None:
            report.fail(where, "the key is not in the key directory")
            return
        if fields.get("participant") != key.participant:
            report.fail(where, f"names participant {fields.get('participant')}, the directory {key.participant}")
        if fields.get("jwk_thumbprint") != jwk_thumbprint(key.jwk):
            report.fail(where, "its jwk_thumbprint is not the thumbprint of the key in the directory")
        if action == "added":
            report.count("key_added")
            if kid in self.added:
                report.fail(where, f"the key was already added at log index {self.added[kid]}")
            else:
                self.added[kid] = index
        elif action == "revoked":
            report.count("key_revoked")
            if kid not in self.added:
                report.fail(where, "revoked before the log records its addition")
            if kid in self.revoked:
                report.fail(where, f"the key was already revoked at log index {self.revoked[kid]}")
            self.revoked.setdefault(kid, index)
            if key.revoked_at is None:
                report.fail(where, "the directory shows this key as not revoked")
            elif at != key.revoked_at:
                report.fail(
                    where,
                    f"revoked at {fields.get('at')} in the log but at {times.iso(key.revoked_at)} in the directory",
                )
        else:
            report.fail(where, f"unknown key action {action!r}")

    def finish(self, report: Report) -> None:
        """Keys in the directory whose events the signed log lacks.

        A key added or revoked after the newest signed checkpoint is not in the log that was checked yet:
        that is a note. It is a failure when the log already holds a later key event, since entries are
        appended in time order.
        """
        for kid, key in sorted(self.keys.items()):
            where = f"key {kid} (directory)"
            checks: list[tuple[str, datetime | None]] = []
            if kid not in self.added:
                checks.append(("its addition is not in the log", key.added_at or key.valid_from))
            if key.revoked_at is not None and kid not in self.revoked:
                checks.append(("it is revoked, but its revocation is not in the log", key.revoked_at))
            for what, when in checks:
                if when is not None and self.latest_event is not None and when < self.latest_event:
                    report.fail(where, f"{what}, though the log records later key events")
                else:
                    report.note(f"{where}: {what} up to the newest signed checkpoint (a later change)")
