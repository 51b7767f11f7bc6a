"""Record versions: each must be backed by an accepted log entry and hold exactly what was signed.

An accepted entry that names a version another entry made is an *unchanged* submission: it must hold
exactly that version's schema and record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exchange.auditor.report import Report
from exchange.auditor.submissions import Accepted, content_digest
from exchange.content import content_sha256


class VersionCheck:
    """Matches the export's version lines with the accepted entries kept by the submission check."""

    def __init__(
        self,
        accepted: dict[int, Accepted],
        signed_size: int,
        report: Report,
        endorsements: dict[int, tuple[str, int, str]] | None = None,
    ) -> None:
        self.accepted = accepted
        self.signed_size = signed_size
        self.report = report
        #: the log's endorsements (log index → record, version, JWS hash), matched with the versions' lists
        self.endorsements = dict(endorsements or {})
        self.published: dict[tuple[str, int], tuple[str | None, set[int]]] = {}
        #: (record, version) → content_sha256 of each upsert version checked, for the unchanged entries
        self.made: dict[tuple[str, int], str | None] = {}

    def run(self, lines: Iterator[dict[str, Any]]) -> None:
        last_seq = 0
        latest: dict[str, int] = {}
        later = 0
        for line in lines:
            record = f"{line.get('participant')}/{line.get('kind')}/{line.get('record_id')}"
            number, index, seq = line.get("version"), line.get("log_index"), line.get("seq")
            where = f"record version {record} v{number} (log index {index})"
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (number, index, seq)):
                self.report.fail(where, "version, log_index and seq must be integers")
                continue
            assert isinstance(number, int) and isinstance(index, int) and isinstance(seq, int)
            if index >= self.signed_size:
                later += 1
                continue
            self.report.count("versions")
            if seq <= last_seq:
                self.report.fail(where, f"seq {seq} does not follow seq {last_seq}")
            last_seq = max(last_seq, seq)
            previous = latest.get(record, 0)
            if number != previous + 1:
                self.report.fail(where, f"version {number} follows version {previous}")
            latest[record] = max(previous, number)
            listed = {e.get("log_index") for e in line.get("endorsements") or [] if isinstance(e, dict)}
            self.published[(record, number)] = (line.get("jws_sha256"), {i for i in listed if isinstance(i, int)})
            self._check(where, record, number, line, self.accepted.pop(index, None))
        if later:
            self.report.note(f"{later} record version(s) after the newest signed checkpoint were not checked")
        for index, accepted in sorted(self.accepted.items()):
            self._unchanged(index, accepted)
        self._endorsements()

    def _endorsements(self) -> None:
        """Each endorsement of the log names a version published from the JWS it names, and that
        version's provenance lists it; a version lists no endorsement the log does not record."""
        for index, (record, number, jws) in sorted(self.endorsements.items()):
            where = f"log entry {index}"
            if index >= self.signed_size:
                continue
            found = self.published.get((record, number))
            if found is None:
                self.report.fail(where, f"endorses {record} v{number}, which the export does not hold")
                continue
            self.report.count("endorsements")
            if found[0] != jws:
                self.report.fail(where, f"endorses {record} v{number} as published from other bytes ({jws})")
            if index not in found[1]:
                self.report.fail(where, f"endorses {record} v{number}, whose provenance does not list it")
            found[1].discard(index)
        for (record, number), (_, listed) in sorted(self.published.items()):
            for index in sorted(i for i in listed if i < self.signed_size):
                self.report.fail(
                    f"record version {record} v{number}", f"lists an endorsement at log index {index} the log lacks"
                )

    def _unchanged(self, index: int, accepted: Accepted) -> None:
        where = f"log entry {index}"
        if (accepted.record, accepted.version) not in self.made:
            self.report.fail(
                where,
                f"accepts submission {accepted.submission} as {accepted.record} v{accepted.version}, "
                "but the export has no such record version",
            )
        elif accepted.content is None:
            self.report.fail(
                where, f"its content cannot be checked: the signed payload of {accepted.submission} did not verify"
            )
        elif accepted.compared is None or accepted.compared != self.made[(accepted.record, accepted.version)]:
            self.report.fail(
                where,
                f"accepts submission {accepted.submission} as {accepted.record} v{accepted.version} unchanged, "
                "but it signs other content than that version",
            )
        else:
            self.report.count("unchanged")

    def _check(self, where: str, record: str, number: int, line: dict[str, Any], accepted: Accepted | None) -> None:
        fail = self.report.fail
        if accepted is None:
            fail(where, "no accepted submission entry of the log backs it (or another version already claims it)")
            return
        if (record, number) != (accepted.record, accepted.version):
            fail(where, f"the log entry accepts {accepted.record} v{accepted.version} there")
        for name in ("submission_id", "kid", "jws_sha256"):
            if line.get(name) != getattr(accepted, name):
                fail(where, f"{name} is {line.get(name)!r}, but the log entry records {getattr(accepted, name)!r}")
        if accepted.content is None:
            fail(where, f"its content cannot be checked: the signed payload of {accepted.submission} did not verify")
            return
        action = line.get("action")
        if action != accepted.action:
            fail(where, f"action {action!r} differs from the signed action {accepted.action!r}")
        if line.get("schema") != accepted.schema:
            fail(where, f"schema {line.get('schema')!r} differs from the signed schema {accepted.schema!r}")
        if content_digest(line.get("content")) != accepted.content:
            fail(where, f"its content differs from the record signed in submission {accepted.submission}")
        visibility, readers = line.get("visibility", "public"), tuple(line.get("readers") or ())
        if (visibility, readers) != (accepted.visibility, accepted.readers):
            shown = f"{visibility} {list(readers)}" if readers else str(visibility)
            signed = f"{accepted.visibility} {list(accepted.readers)}" if accepted.readers else accepted.visibility
            fail(where, f"it is shown as {shown}, but submission {accepted.submission} signed {signed}")
        if action == "upsert":
            self.made[(record, number)] = content_sha256(
                line.get("schema"), line.get("content"), accepted.visibility, accepted.readers
            )
