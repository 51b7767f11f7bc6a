"""``exchange verify DIR``: every check over an audit directory, in one streaming pass per file."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from exchange.auditor import layout
from exchange.auditor.keydir import KeyDirectory
from exchange.auditor.logcheck import LogCheck
from exchange.auditor.parallel import Precheck
from exchange.auditor.report import Report
from exchange.auditor.source import AuditDirectory
from exchange.auditor.submissions import SubmissionCheck
from exchange.auditor.versions import VersionCheck
from exchange.auditor.witnesses import check_newest

T = TypeVar("T")


def _progress(items: Iterator[T], enabled: bool, total: int | None, unit: str, what: str) -> Iterator[T]:
    """A progress bar on standard error, drawn only for a person watching: a log file gets no bar."""
    if not enabled or not sys.stderr.isatty():
        return items
    return iter(tqdm(items, total=total, unit=unit, desc=what, file=sys.stderr, leave=False))


class ExportReader:
    """The export file: submission lines, then version lines, then the ``end`` line with the counts."""

    def __init__(self, source: AuditDirectory, report: Report) -> None:
        self.source = source
        self.report = report

    def submissions(self) -> Iterator[dict[str, Any]]:
        for line in self.source.lines(layout.EXPORT, self.report):
            kind = line.get("type")
            if kind == "submission":
                yield line
            elif kind in ("version", "end"):
                return

    def versions(self) -> Iterator[dict[str, Any]]:
        """Version lines; on the way, the whole file's order and its end line are checked."""
        seen = {"submission": 0, "version": 0}
        end: dict[str, Any] | None = None
        for line in self.source.lines(layout.EXPORT, self.report):
            kind = line.get("type")
            if end is not None:
                self.report.fail("export", "lines follow its end line")
                break
            if kind == "end":
                end = line
            elif kind == "version":
                seen["version"] += 1
                yield line
            elif kind == "submission":
                seen["submission"] += 1
                if seen["version"]:
                    self.report.fail("export", "a submission line follows the version lines")
            else:
                self.report.fail("export", f"a line of unknown type {kind!r}")
        if end is None:
            self.report.fail("export", "has no end line: it was cut short")
            return
        for kind, count in seen.items():
            if end.get(f"{kind}s") != count:
                self.report.fail("export", f"its end line counts {end.get(f'{kind}s')} {kind}s, but it holds {count}")


def _verifier_keys(info: dict[str, Any]) -> list[str]:
    keys = info.get("log_verifier_keys")
    if isinstance(keys, list) and keys:
        return [k for k in keys if isinstance(k, str)]
    single = info.get("log_verifier_key")
    return [single] if isinstance(single, str) else []


def verify_directory(path: Path, *, progress: bool = False, witnesses: Sequence[str] = (), quorum: int = 0) -> Report:
    """Run every check over the audit directory at ``path``.

    With ``witnesses``, the newest checkpoint must also carry ``quorum`` of their cosignatures.

    Raises :class:`exchange.auditor.source.SourceError` when the directory cannot be read at all.
    """
    source = AuditDirectory(path)
    info = source.info()
    report = Report()
    source.check_manifest(report)
    verifier_keys = _verifier_keys(info)
    if not verifier_keys:
        report.fail("info", "publishes no log verifier key")
    origin = info.get("origin") if isinstance(info.get("origin"), str) else None
    log_origin = info.get("log_origin") if isinstance(info.get("log_origin"), str) else None
    documents = source.keys(report)
    keys = KeyDirectory.load(documents, report)
    export = ExportReader(source, report)
    precheck = Precheck(documents, origin)
    submissions = SubmissionCheck(keys, origin, report, precheck.lines(export.submissions()), precheck)
    log = LogCheck(verifier_keys, log_origin, report)
    entries = _progress(source.entries(report), progress, source.signed_size, "entry", "log entries")
    for index, fields in log.run(
        source.lines(layout.CHECKPOINTS, report), source.lines(layout.PROOFS, report), entries
    ):
        submissions.on_entry(index, fields)
    submissions.finish(log.signed_size)
    keys.finish(report)
    versions = _progress(export.versions(), progress, None, "version", "record versions")
    VersionCheck(submissions.accepted, log.signed_size, report, submissions.endorsements).run(versions)
    if log.complete and source.signed_size is not None and source.signed_size != log.listed:
        report.fail(
            "audit directory", f"the manifest pins size {source.signed_size}, the checkpoints list {log.listed}"
        )
    if witnesses:
        check_newest(source, witnesses, quorum, report)
    return report
