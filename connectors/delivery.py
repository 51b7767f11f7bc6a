"""What the import, outbox and watch commands do with checked records: print, write or send them.

Each function writes lines through the two callables it is given (standard output and standard
error for the CLI) and returns the command's exit status, so it can be tested without a terminal:
0 all accepted (or all valid, for a dry run), 1 some invalid or rejected, 3 some not delivered (they
stay in the outbox).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from connectors.local import check, participant_of, scope_for
from connectors.model import Imported, ImportReport
from connectors.outbox import Entry, FlushReport, Outbox, Queued
from connectors.pipeline import Sent, note_lines, remote_scope, send, validate, wrapper, write_out
from connectors.sdk import ExchangeClient, RepositoryError
from connectors.watcher import Watcher

EXIT_INVALID = 1
EXIT_UNDELIVERED = 3
Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Target:
    """Where and as whom to submit."""

    url: str | None
    kid: str | None
    key_file: Path | None
    token: str | None
    outbox: Path

    @property
    def participant(self) -> str | None:
        """The participant of the key id (ValueError for a malformed one)."""
        return participant_of(self.kid) if self.kid is not None else None


@dataclass(frozen=True, slots=True)
class Output:
    out: Echo
    err: Echo


async def deliver(
    report: ImportReport,
    target: Target,
    client: ExchangeClient | None,
    output: Output,
    *,
    dry_run: bool,
    out_dir: Path | None,
    timeout: float,
    quiet: bool,
    validated: bool = False,
) -> int:
    """Check the records of an import report, then print them (dry run), write them (``out_dir``) or
    send them through the outbox (``client``, already open); return the exit status."""
    offline: str | None = None
    if client is not None:
        try:
            await client.info()
        except RepositoryError as exc:
            offline = str(exc)
    scope = await remote_scope(None if offline else client, target.participant)
    validate(report.records, scope, already=validated)
    for line in note_lines(report.source, report.all_notes(), quiet=quiet):
        output.err(line)
    invalid = [r for r in report.records if not r.ok]
    if dry_run:
        output.out(json.dumps([wrapper(r) for r in report.records], indent=2, ensure_ascii=False))
        output.err(f"{len(report.records)} record(s), {len(invalid)} with errors; nothing sent (--dry-run)")
        return EXIT_INVALID if invalid or not report.ok else 0
    if out_dir is not None:
        for path in write_out([r for r in report.records if r.ok], out_dir):
            output.out(str(path))
        output.err(f"{len(report.records) - len(invalid)} record(s) written to {out_dir}")
        return EXIT_INVALID if invalid else 0
    if client is None:
        raise ValueError("sending needs a client")
    with Outbox(target.outbox) as outbox:
        if offline is not None:
            valid = [r for r in report.records if r.ok]
            outbox.enqueue(
                client.participant,
                [Queued(r.kind, r.record_id, r.record, r.action, source=r.source) for r in valid],
            )
            output.err(
                f"{len(valid)} submission(s) kept in the outbox {target.outbox} (repository unreachable: "
                f"{offline}); run `exchange outbox flush` when it is back"
            )
            return EXIT_UNDELIVERED
        sent = await send(report.records, client, outbox, wait=timeout if target.token else 0.0)
    return report_sent(sent, target, output)


def report_sent(sent: Sent, target: Target, output: Output) -> int:
    """One line per submission sent (with its errors), then the exit status."""
    states = [e.state for e in sent.entries]
    for entry in sent.entries:
        line = f"{entry.label}: {entry.state}"
        if entry.state == "accepted" and isinstance(entry.answer, dict):
            if entry.answer.get("unchanged") is True:
                line += f", unchanged: version {entry.answer.get('version')} already holds it"
            else:
                line += f" version {entry.answer.get('version')}"
        elif entry.detail:
            line += f" ({entry.detail})"
        output.out(line)
        if isinstance(entry.answer, dict):
            for error in entry.answer.get("errors") or []:
                output.out(f"    {error.get('pointer') or '/'}: {error.get('message')} [{error.get('rule')}]")
    for skipped in sent.skipped:
        output.out(f"{skipped.record_id}: not sent (invalid)")
    if sent.flush.unreachable:
        output.err(
            f"{sent.flush.remaining} submission(s) kept in the outbox {target.outbox} "
            f"(repository unreachable: {sent.flush.unreachable}); run `exchange outbox flush`"
        )
        return EXIT_UNDELIVERED
    if not target.token and "received" in states:
        output.err("note: without --token the verdicts cannot be read; see `exchange outbox status`")
    if sent.skipped or any(s in ("rejected", "refused") for s in states):
        return EXIT_INVALID
    if "pending" in states:
        return EXIT_UNDELIVERED
    return 0


def preview(records: list[Imported], where: str, output: Output, *, quiet: bool) -> int:
    """Print records as submission files and their notes; 1 if any has an error."""
    for imported in records:
        for note in imported.notes:
            if not (quiet and note.level == "info"):
                output.err(f"{imported.source} [{imported.record_id}]: {note}")
    output.out(json.dumps([wrapper(r) for r in records], indent=2, ensure_ascii=False))
    invalid = sum(1 for r in records if not r.ok)
    output.err(f"{len(records)} record(s) {where}, {invalid} with errors; nothing sent (--dry-run)")
    return EXIT_INVALID if invalid else 0


def entry_record(entry: Entry) -> Imported:
    """An outbox entry as an imported record, checked again against the packaged schemas."""
    imported = Imported(entry.kind, entry.record_id, entry.record or {}, entry.source or f"#{entry.seq}")
    imported.action = entry.action
    if entry.action == "upsert":
        imported.notes.extend(check(imported, scope_for(entry.participant)))
    return imported


def report_flush(report: FlushReport, *, waited: bool, output: Output) -> int:
    """The outcome of ``exchange outbox flush``: counts, then each submission not accepted."""
    output.out(
        f"sent {report.sent}: received {report.received}, accepted {report.accepted} "
        f"({report.unchanged} unchanged), held for review {report.held}, returned {report.returned}, "
        f"rejected {report.rejected}, refused {report.refused}; {report.remaining} still waiting"
    )
    for entry in report.decided:
        if entry.state != "accepted":
            output.out(f"  {entry.label} {entry.submission_id}: {entry.state} {entry.detail or ''}".rstrip())
            if isinstance(entry.answer, dict):
                for error in entry.answer.get("errors") or []:
                    output.out(f"    {error.get('pointer') or '/'}: {error.get('message')}")
    if report.unreachable:
        output.err(f"repository unreachable: {report.unreachable}")
        return EXIT_UNDELIVERED
    if report.rejected or report.refused:
        return EXIT_INVALID
    return 0 if report.remaining == 0 or not waited else EXIT_UNDELIVERED


def watch_status(watcher: Watcher) -> int:
    """The exit status of one pass of the folder watcher."""
    if watcher.pending():
        return EXIT_UNDELIVERED
    return EXIT_INVALID if watcher.stats.rejected else 0
