"""A folder that submits what is dropped into it.

Every JSON, CSV or Akoma Ntoso (``.xml``, ``.akn``) file put into the folder is imported, checked
locally, signed and submitted through the outbox; once every submission it holds has a verdict, the
file moves to ``done/`` (all accepted) or ``rejected/`` (anything rejected), with
``NAME.verdict.json`` beside it. A file that cannot be read or fails the local checks goes to
``rejected/`` at once. Files are taken only once they have not changed for ``settle`` seconds; names
starting with a dot are ignored (write ``.name.tmp``, then rename, to drop a file atomically).

The outbox remembers which file each submission came from, so a restart (or an outage of the
repository) neither loses a file nor submits it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.akn import AknOptions, import_akn
from connectors.csv_import import import_csv
from connectors.local import check
from connectors.model import Imported, ImportFailure, Note, slug
from connectors.outbox import DECIDED_STATES, Entry, Outbox, Queued
from connectors.sdk import ExchangeClient
from exchange import ijson, times
from exchange.identifiers import KINDS
from exchange.validation import ParticipantScope

SUFFIXES = {".json": "json", ".csv": "csv", ".xml": "akn", ".akn": "akn"}
DONE, REJECTED = "done", "rejected"


@dataclass(slots=True)
class WatchStats:
    imported: int = 0
    done: int = 0
    rejected: int = 0
    moved: list[Path] = field(default_factory=list)


def _kind_of(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if "case_type" in record:
        return "case"
    if "document_type" in record:
        return "law"
    if "summary" in record and ("themes" in record or "kind" in record):
        return "lesson"
    if "providers" in record:
        return "assistance"
    if "source" in record and "description" in record and "status" in record:
        return "need"
    return None


def read_json(path: Path, data: bytes) -> Imported:
    """A JSON file: a bare record (kind told by its fields) or ``{kind, record_id, action, record}``."""
    try:
        value = ijson.loads(data)
    except ijson.IJSONError as exc:
        raise ImportFailure(f"{path.name}: not I-JSON ({exc})") from None
    wrapped = (
        isinstance(value, dict)
        and ("record" in value or value.get("action") == "withdraw")
        and ("kind" in value or "record_id" in value)
    )
    record = value.get("record") if wrapped else value
    kind = value.get("kind") if wrapped else _kind_of(record)
    if kind not in KINDS:
        raise ImportFailure(f'{path.name}: say which kind it is ({{"kind": "law", "record": …}})')
    action = str(value.get("action") or "upsert") if wrapped else "upsert"
    record_id = str(value.get("record_id") or slug(path.stem)) if wrapped else slug(path.stem)
    if action == "withdraw":
        return Imported(kind, record_id, {}, path.name, action="withdraw")
    if not isinstance(record, dict):
        raise ImportFailure(f"{path.name}: the record must be a JSON object")
    return Imported(kind, record_id, record, path.name, action=action)


def import_file(path: Path, data: bytes, scope: ParticipantScope | None, akn: AknOptions) -> list[Imported]:
    """The records of one dropped file, each checked locally (errors as notes)."""
    kind = SUFFIXES[path.suffix.lower()]
    if kind == "csv":
        report = import_csv(data, source=path.name, scope=scope)
        records = report.records
        if not report.ok and not records:
            raise ImportFailure("; ".join(str(n) for n in report.notes if n.level == "error"))
        if records and report.notes:
            records[0].notes.extend(n for n in report.notes if n.level == "error")
        return records
    imported = import_akn(data, source=path.name, options=akn) if kind == "akn" else read_json(path, data)
    if imported.action == "upsert":
        imported.notes.extend(check(imported, scope))
    return [imported]


def _takeable(path: Path) -> bool:
    """A regular file (never a symbolic link, which could lead out of the folder) of a known kind."""
    if path.name.startswith(".") or path.is_symlink() or not path.is_file():
        return False
    return path.suffix.lower() in SUFFIXES and not path.name.endswith((".verdict.json", ".receipt.json"))


def ignored(folder: Path) -> list[str]:
    """Names in ``folder`` that the watcher never takes: links, other kinds of file (not hidden ones,
    nor its own done/ and rejected/ folders and verdicts)."""
    names = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or (path.name in (DONE, REJECTED) and not path.is_symlink()):
            continue
        if path.name.endswith((".verdict.json", ".receipt.json")) or _takeable(path):
            continue
        names.append(path.name)
    return names


def candidates(folder: Path, settle: float) -> list[Path]:
    """The files of ``folder`` to take now: known suffixes, not hidden, not links, unchanged for ``settle`` s."""
    now = time.time()
    found = []
    for path in sorted(folder.iterdir()):
        if not _takeable(path):
            continue
        try:
            if now - path.stat().st_mtime < settle:
                continue
        except OSError:
            continue
        found.append(path)
    return found


def preview(folder: Path, scope: ParticipantScope | None, akn: AknOptions | None = None) -> list[Imported]:
    """What the watcher would submit from the files now in ``folder``, checked; nothing is moved or sent."""
    records: list[Imported] = []
    for path in candidates(folder, 0.0):
        try:
            records.extend(import_file(path, path.read_bytes(), scope, akn or AknOptions()))
        except (ImportFailure, OSError) as exc:
            failed = Imported("law", path.stem, {}, path.name)
            failed.note("error", path.name, str(exc))
            records.append(failed)
    return records


class Watcher:
    def __init__(
        self,
        folder: Path,
        client: ExchangeClient,
        outbox: Outbox,
        scope: ParticipantScope | None,
        *,
        settle: float = 1.0,
        akn: AknOptions | None = None,
        log: Any = None,
    ) -> None:
        self.folder = folder
        self.client = client
        self.outbox = outbox
        self.scope = scope
        self.settle = settle
        self.akn = akn or AknOptions()
        self.log = log or (lambda message: None)
        self.stats = WatchStats()
        self._noted: set[str] = set()
        for name in (DONE, REJECTED):
            (folder / name).mkdir(parents=True, exist_ok=True)

    def candidates(self) -> list[Path]:
        return candidates(self.folder, self.settle)

    async def scan(self) -> None:
        """Import every settled file not already queued (and say once of each file it will not take)."""
        for name in ignored(self.folder):
            if name not in self._noted:
                self._noted.add(name)
                self.log(f"{name}: ignored (only regular {', '.join(sorted(SUFFIXES))} files are taken, never links)")
        for path in self.candidates():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if self.outbox.open_file(path.name, digest) is not None:
                continue
            try:
                records = import_file(path, data, self.scope, self.akn)
            except ImportFailure as exc:
                self._finish(path, digest, "rejected", [], [Note("error", path.name, str(exc))])
                continue
            notes = [n for r in records for n in r.notes]
            if any(not r.ok for r in records) or not records:
                if not records:
                    notes.append(Note("error", path.name, "the file holds no record"))
                self._finish(path, digest, "rejected", [], notes)
                continue
            items = [Queued(r.kind, r.record_id, r.record, action=r.action, source=path.name) for r in records]
            self.outbox.enqueue_file(self.client.participant, path.name, digest, items)
            self.stats.imported += 1
            self.log(f"{path.name}: {len(items)} submission(s) queued")

    def settle_files(self) -> None:
        """Move every file whose submissions are all decided, with its verdict."""
        for file_id, name, digest in self.outbox.open_files():
            entries = self.outbox.file_entries(file_id)
            if any(e.state not in DECIDED_STATES for e in entries):
                continue
            verdict = "done" if all(e.state == "accepted" for e in entries) else "rejected"
            self._finish(self.folder / name, digest, verdict, entries, [])
            self.outbox.close_file(file_id)

    async def step(self, wait: float = 0.5) -> None:
        await self.scan()
        if self.outbox.open_count(self.client.participant):
            report = await self.outbox.flush(self.client, wait=wait)
            if report.unreachable:
                self.log(f"repository unreachable, will retry: {report.unreachable}")
        self.settle_files()

    def pending(self) -> bool:
        return bool(self.outbox.open_files())

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        while not stop.is_set():
            await self.step()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def once(self, timeout: float = 60.0) -> None:
        """Process what is in the folder now and wait (up to ``timeout``) for every verdict."""
        deadline = time.monotonic() + timeout
        await self.scan()
        while self.pending() and time.monotonic() < deadline:
            report = await self.outbox.flush(self.client, wait=max(0.0, deadline - time.monotonic()))
            self.settle_files()
            if report.unreachable:
                self.log(f"repository unreachable: {report.unreachable}")
                break
        self.settle_files()

    def _finish(self, path: Path, digest: str, verdict: str, entries: list[Entry], notes: list[Note]) -> None:
        folder = self.folder / (DONE if verdict == "done" else REJECTED)
        body = {
            "file": path.name,
            "sha256": digest,
            "status": "accepted" if verdict == "done" else "rejected",
            "decided_at": times.iso(times.now()),
            "submissions": [_entry_verdict(e) for e in entries],
        }
        if notes:
            body["errors"] = [n.as_dict() for n in notes if n.level == "error"]
            body["notes"] = [n.as_dict() for n in notes if n.level != "error"]
        target = folder / path.name
        if target.exists() or (folder / f"{path.name}.verdict.json").exists():
            target = folder / f"{times.now().strftime('%Y%m%dT%H%M%S%fZ')}-{path.name}"
        try:
            current = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        except OSError:
            current = None
        if current == digest:
            path.replace(target)
            self.stats.moved.append(target)
        verdict_path = target.with_name(target.name + ".verdict.json")
        verdict_path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if verdict == "done":
            self.stats.done += 1
        else:
            self.stats.rejected += 1
        self.log(f"{path.name}: {body['status']} → {target.parent.name}/")


def _entry_verdict(entry: Entry) -> dict[str, Any]:
    value: dict[str, Any] = {
        "record": entry.label,
        "submission_id": entry.submission_id,
        "status": entry.state,
    }
    answer = entry.answer if isinstance(entry.answer, dict) else {}
    for name in ("version", "seq", "log_index", "unchanged"):
        if name in answer:
            value[name] = answer[name]
    if answer.get("errors"):
        value["errors"] = answer["errors"]
    if entry.detail and entry.state != "accepted":
        value["detail"] = entry.detail
    return value
