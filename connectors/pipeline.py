"""From imported records to the repository: check locally, then queue in the outbox and flush (batch)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.local import check, scope_for
from connectors.model import Imported, Note
from connectors.outbox import Entry, FlushReport, Outbox, Queued
from connectors.sdk import ExchangeClient, RepositoryError, Unreachable
from exchange.validation import ParticipantScope

#: Above this many bytes (base64 of the payload) a submission nears the default 1 MiB body limit.
LARGE_SUBMISSION = 900_000


def wrapper(imported: Imported) -> dict[str, Any]:
    """The record as a submission file (what ``exchange submit`` and the folder watcher read)."""
    return {
        "kind": imported.kind,
        "record_id": imported.record_id,
        "action": imported.action,
        "record": imported.record,
    }


def validate(records: list[Imported], scope: ParticipantScope | None, *, already: bool = False) -> None:
    """Add the repository's own verdict on each record (schemas, vocabularies, ownership) as error notes."""
    for imported in records:
        if not already:
            imported.notes.extend(check(imported, scope))
        size = len(json.dumps(imported.record, ensure_ascii=False).encode("utf-8")) * 4 // 3
        if size > LARGE_SUBMISSION:
            imported.note(
                "warning",
                "",
                f"the signed submission will be about {size // 1024} KiB; repositories accept 1 MiB by default "
                "(--provision-text none, or fewer provisions, makes it smaller)",
            )


def write_out(records: list[Imported], folder: Path) -> list[Path]:
    """Write each record as ``FOLDER/<kind>/<record_id>.json`` for review; return the paths."""
    paths = []
    for imported in records:
        path = folder / imported.kind / f"{imported.record_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wrapper(imported), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


async def remote_scope(client: ExchangeClient | None, participant: str | None) -> ParticipantScope | None:
    """The participant's scope as the repository registered it (falls back to a State's own)."""
    if participant is None:
        return None
    participants: list[dict[str, Any]] = []
    if client is not None:
        try:
            participants = await client.participants()
        except (RepositoryError, Unreachable):
            participants = []
    return scope_for(participant, participants)


@dataclass(slots=True)
class Sent:
    """The result of sending imported records through the outbox."""

    flush: FlushReport
    entries: list[Entry] = field(default_factory=list)
    skipped: list[Imported] = field(default_factory=list)  # not sent: local errors


async def send(records: list[Imported], client: ExchangeClient, outbox: Outbox, *, wait: float) -> Sent:
    """Queue the valid records durably, then flush the outbox (batch endpoint; verdicts with a token)."""
    valid = [r for r in records if r.ok]
    skipped = [r for r in records if not r.ok]
    ids = outbox.enqueue(
        client.participant,
        [Queued(r.kind, r.record_id, r.record, action=r.action, source=r.source) for r in valid],
    )
    report = await outbox.flush(client, wait=wait)
    entries = [e for e in (outbox.entry(i) for i in ids) if e is not None]
    return Sent(report, entries, skipped)


def note_lines(source: str, notes: list[tuple[str | None, Note]], *, quiet: bool = False) -> list[str]:
    lines = []
    for record_id, note in notes:
        if quiet and note.level == "info":
            continue
        prefix = f"{source}" + (f" [{record_id}]" if record_id else "")
        lines.append(f"{prefix}: {note}")
    return lines
