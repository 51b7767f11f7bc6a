"""What the auditor found: counts of what it checked and every failure, each naming where and what."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed check: ``where`` names the log index, submission or record version; ``what`` says why."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Report:
    """Counts, notes (facts worth knowing that are not failures) and findings (failures)."""

    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def fail(self, where: str, what: str) -> None:
        self.findings.append(Finding(where, what))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    @property
    def ok(self) -> bool:
        return not self.findings

    def render(self, source: str, limit: int = 1000) -> str:
        """The human report: what was checked, notes, then every failure (up to ``limit``)."""
        c = self.counts
        lines = [
            f"exchange verify: {source}",
            f"  log:         {c['entries']} entries, {c['checkpoints']} signed checkpoint(s) "
            f"(newest size {c['signed_size']}), {c['consistency_proofs']} consistency proof(s), "
            f"{c['roots_recomputed']} root(s) recomputed from the entries",
            f"  keys:        {c['keys']} in the directory; {c['key_added']} addition(s) and "
            f"{c['key_revoked']} revocation(s) in the log",
            f"  submissions: {c['submissions']} ({c['accepted']} accepted, {c['rejected']} rejected"
            + (
                f", {c['pending_review']} held for review, {c['reviews']} review decision(s)"
                if c["reviews"] or c["pending_review"]
                else ""
            )
            + f"), {c['signatures_verified']} signature(s) verified",
            f"  versions:    {c['versions']} record version(s) matched to their signed payloads"
            + (f"; {c['endorsements']} endorsement(s) by their owners" if c["endorsements"] else "")
            + (
                f"; {c['unchanged']} unchanged submission(s) matched to the version they name" if c["unchanged"] else ""
            ),
        ]
        lines += [f"  note: {text}" for text in self.notes]
        if self.ok:
            lines.append("OK: every check holds")
            return "\n".join(lines)
        lines.append(f"FAILED: {len(self.findings)} problem(s)")
        lines += [f"  - {finding}" for finding in self.findings[:limit]]
        if len(self.findings) > limit:
            lines.append(f"  … and {len(self.findings) - limit} more")
        return "\n".join(lines)
