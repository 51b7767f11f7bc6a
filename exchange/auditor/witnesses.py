"""Witness quorum: a verifier that trusts witnesses refuses a checkpoint too few of them cosigned.

A log alone can show one auditor a history and everyone else another (a split view); a checkpoint
cosigned by enough independent witnesses cannot be such a fork unless they collude. With
``--witness VKEY`` (repeatable) and ``--quorum N``, ``exchange verify`` requires at least N valid
``cosignature/v1`` lines by those witnesses on the newest checkpoint of an audit directory, or on a
receipt's checkpoint, and names every trusted witness whose cosignature is missing or invalid.
"""

from __future__ import annotations

from collections.abc import Sequence

from exchange.auditor import layout
from exchange.auditor.report import Report
from exchange.auditor.source import AuditDirectory
from exchange.transparency.cosignature import check_quorum
from exchange.transparency.note import NoteError


def witnessed(note: str, witnesses: Sequence[str], quorum: int) -> list[str]:
    """The names of the trusted witnesses that cosigned ``note``; raises ``NoteError`` below the quorum."""
    return [c.name for c in check_quorum(note, witnesses, quorum)]


def check_newest(source: AuditDirectory, witnesses: Sequence[str], quorum: int, report: Report) -> None:
    """Require the quorum on the newest checkpoint listed in the audit directory."""
    newest: dict[str, object] | None = None
    # Read again: findings about the lines themselves were reported by the log check already.
    for line in source.lines(layout.CHECKPOINTS, Report()):
        newest = line
    note = newest.get("note") if newest is not None else None
    if newest is None or not isinstance(note, str):
        report.fail("witnesses", "there is no signed checkpoint to hold to the witness quorum")
        return
    where = f"checkpoint {newest.get('size')}"
    try:
        names = witnessed(note, witnesses, quorum)
    except NoteError as exc:
        report.fail(where, f"lacks the witness quorum: {exc}")
        return
    report.note(f"{where} is cosigned by {len(names)} trusted witness(es): {', '.join(names) or 'none needed'}")
