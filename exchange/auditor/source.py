"""Reading an audit directory (layout in :mod:`exchange.auditor.layout`), one line at a time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from exchange.auditor import layout
from exchange.auditor.report import Report


class SourceError(Exception):
    """The audit directory cannot be read at all (missing, or without its info document)."""


def b64decode(text: Any) -> bytes:
    """Standard base64, strictly; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("not a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not standard base64") from None


def _loads(raw: bytes) -> Any:
    """``json.loads(raw)``, decoded by orjson wherever orjson reads the same value (several times faster);
    what orjson refuses (NaN, integers past 64 bits, lone surrogates…) the standard library reads, or
    refuses with its own message, as before."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class AuditDirectory:
    """An audit directory on disk; every reader streams its file."""

    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise SourceError(f"{path} is not a directory")
        self.path = path
        self.manifest: dict[str, Any] = {}

    def _json(self, name: str) -> Any:
        try:
            return json.loads((self.path / name).read_bytes())
        except FileNotFoundError:
            raise SourceError(f"{self.path / name} is missing") from None
        except ValueError as exc:
            raise SourceError(f"{self.path / name} is not JSON: {exc}") from None

    def check_manifest(self, report: Report) -> None:
        """Read the manifest and check that no file changed since it was written."""
        try:
            manifest = self._json(layout.MANIFEST)
        except SourceError as exc:
            report.fail("audit directory", f"{exc}: the export did not finish")
            return
        if not isinstance(manifest, dict) or manifest.get("format") != layout.FORMAT:
            report.fail("audit directory", f"{layout.MANIFEST} is not an {layout.FORMAT} manifest")
            return
        self.manifest = manifest
        for name, expected in (manifest.get("files") or {}).items():
            path = self.path / str(name)
            if not path.is_file():
                report.fail("audit directory", f"{name} is missing")
            elif file_sha256(path) != expected:
                report.fail("audit directory", f"{name} changed after the export was written")

    @property
    def signed_size(self) -> int | None:
        size = self.manifest.get("signed_size")
        return size if isinstance(size, int) else None

    def info(self) -> dict[str, Any]:
        info = self._json(layout.INFO)
        if not isinstance(info, dict):
            raise SourceError(f"{layout.INFO} is not a JSON object")
        return info

    def keys(self, report: Report) -> list[dict[str, Any]]:
        try:
            document = self._json(layout.KEYS)
        except SourceError as exc:
            report.fail("key directory", str(exc))
            return []
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            report.fail("key directory", f"{layout.KEYS} has no 'keys' list")
            return []
        return [k for k in keys if isinstance(k, dict)]

    def lines(self, name: str, report: Report) -> Iterator[dict[str, Any]]:
        """The JSON objects of an NDJSON file; a line that is not one is a finding and is skipped."""
        path = self.path / name
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            report.fail("audit directory", f"{name} is missing")
            return
        with handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    value = _loads(raw)
                except ValueError as exc:
                    report.fail(f"{name} line {number}", f"not JSON ({exc})")
                    continue
                if not isinstance(value, dict):
                    report.fail(f"{name} line {number}", "not a JSON object")
                    continue
                yield value

    def entries(self, report: Report) -> Iterator[tuple[int, bytes]]:
        """``(index, exact entry bytes)`` in file order."""
        for line in self.lines(layout.ENTRIES, report):
            index = line.get("index")
            try:
                entry = b64decode(line.get("entry"))
            except ValueError:
                report.fail(f"log entry {index}", "the entry is not standard base64")
                continue
            if not isinstance(index, int) or isinstance(index, bool):
                report.fail("log entries", f"a line without an integer index: {str(line)[:80]}")
                continue
            yield index, entry
