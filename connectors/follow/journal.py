"""The follower's local copy on disk: the NDJSON journal, the record files and the state file.

The journal is append-only, one change per line, flushed and fsynced per batch; it is its own
recovery log: the last complete line gives the seq to resume from, and a torn last line (a crash in
the middle of a write) is cut off on start. Record files and the state file are written atomically
(temporary file, fsync, rename) and only after the journal lines they derive from are durable.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from exchange.identifiers import parse_record_key

__all__ = [
    "Journal",
    "JournalError",
    "RecordTree",
    "atomic_write",
    "encode_line",
    "fsync_dir",
    "record_path_parts",
]

_BLOCK = 1 << 16


class JournalError(ValueError):
    """The local journal cannot be read as a journal of changes."""


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a new, renamed or removed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` all at once: a reader sees the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)


def encode_line(change: dict[str, Any]) -> bytes:
    """One journal line: the change as compact JSON and a newline."""
    return json.dumps(change, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _reversed_lines(handle: BinaryIO, end: int) -> Iterator[bytes]:
    """The lines of ``handle[:end]`` (a text whose final newline is left out), last first."""
    position = end
    pending = b""
    while position > 0:
        start = max(0, position - _BLOCK)
        handle.seek(start)
        chunk = handle.read(position - start) + pending
        position = start
        lines = chunk.split(b"\n")
        pending = lines[0]
        yield from reversed(lines[1:])
    yield pending


def _change_of(line: bytes) -> dict[str, Any] | None:
    try:
        change = json.loads(line)
    except ValueError:
        return None
    seq = change.get("seq") if isinstance(change, dict) else None
    return change if isinstance(seq, int) and not isinstance(seq, bool) else None


@dataclass
class Journal:
    """``changes.ndjson``: append-only, one verified change per line, in seq order."""

    path: Path
    last_seq: int | None = None
    last: dict[str, Any] | None = None
    truncated: int = 0
    _handle: BinaryIO | None = None

    @classmethod
    def open(cls, path: Path) -> Journal:
        """Open (creating it) and recover: cut a torn last line, read the seq of the last complete one.

        The journal is locked while open: a second follower writing the same copy is refused.
        """
        journal = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        handle = path.open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise JournalError(f"another follower is writing {path}") from None
        journal._handle = handle
        if created:
            fsync_dir(path.parent)
        journal._recover()
        return journal

    def _recover(self) -> None:
        handle = self._require()
        size = handle.seek(0, os.SEEK_END)
        end = self._complete_end(handle, size)
        while end > 0:
            line = next(_reversed_lines(handle, end - 1))
            change = _change_of(line)
            if change is not None:
                self.last, self.last_seq = change, change["seq"]
                break
            end -= len(line) + 1  # the last "complete" line is garbage: cut it too
        if end != size:
            self.truncated = size - end
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())

    @staticmethod
    def _complete_end(handle: BinaryIO, size: int) -> int:
        """The length of the file up to and including its last newline."""
        position = size
        while position > 0:
            start = max(0, position - _BLOCK)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            position = start
        return 0

    def _require(self) -> BinaryIO:
        if self._handle is None:
            raise JournalError(f"{self.path} is not open")
        return self._handle

    def append(self, changes: Sequence[dict[str, Any]]) -> None:
        """Append one line per change, then flush and fsync once."""
        if not changes:
            return
        handle = self._require()
        handle.seek(0, os.SEEK_END)
        handle.write(b"".join(encode_line(c) for c in changes))
        handle.flush()
        os.fsync(handle.fileno())
        self.last, self.last_seq = dict(changes[-1]), int(changes[-1]["seq"])

    def newest_after(self, seq: int) -> Iterator[dict[str, Any]]:
        """The changes with a seq above ``seq``, newest first (read backwards from the end)."""
        handle = self._require()
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        for line in _reversed_lines(handle, size - 1):
            if not line:
                continue
            try:
                change = json.loads(line)
            except ValueError:
                raise JournalError(f"{self.path} holds a line that is not JSON") from None
            if not isinstance(change, dict) or not isinstance(change.get("seq"), int):
                raise JournalError(f"{self.path} holds a line that is not a change")
            if change["seq"] <= seq:
                return
            yield change

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def record_path_parts(record: str) -> tuple[str, str, str] | None:
    """``(participant, kind, record_id)`` of ``<participant>/<kind>/<record_id>`` when each is a safe name."""
    try:
        return parse_record_key(record)
    except ValueError:
        return None


@dataclass
class RecordTree:
    """``DIR/<participant>/<kind>/<record_id>.json``: the current content of every record."""

    root: Path

    def path(self, record: str) -> Path:
        parts = record_path_parts(record)
        if parts is None:
            raise JournalError(f"record name {record!r} cannot be a file name")
        participant, kind, record_id = parts
        return self.root / participant / kind / f"{record_id}.json"

    def apply(self, changes: Sequence[dict[str, Any]]) -> None:
        """Write (or, for a withdrawal, remove) the file of each change in order, then sync the folders."""
        touched: set[Path] = set()
        for change in changes:
            target = self.path(str(change["record"]))
            if change.get("action") == "withdraw":
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                body = json.dumps(change.get("content"), ensure_ascii=False, indent=2) + "\n"
                atomic_write(target, body.encode("utf-8"), sync_dir=False)
            touched.add(target.parent)
        self._sync(touched)

    def apply_newest_first(self, changes: Iterable[dict[str, Any]]) -> int:
        """Bring each record's file to the newest of ``changes`` that names it; the number of records."""
        seen: set[str] = set()
        newest: list[dict[str, Any]] = []
        for change in changes:
            record = str(change["record"])
            if record not in seen:
                seen.add(record)
                newest.append(change)
                if len(newest) >= 256:
                    self.apply(newest)
                    newest.clear()
        self.apply(newest)
        return len(seen)

    @staticmethod
    def _sync(touched: set[Path]) -> None:
        for folder in sorted(touched):
            if folder.exists():
                fsync_dir(folder)
