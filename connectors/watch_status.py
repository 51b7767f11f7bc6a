"""What a watched folder's outbox holds, read locally: no repository, no key and no token needed.

The watcher keeps its outbox in the folder unless told otherwise, so the folder alone names it; the
counts tell an operator what is still waiting and what was decided without starting the watcher.
"""

from __future__ import annotations

from pathlib import Path

from connectors.outbox import STATES, Outbox

FOLDER_OUTBOX = ".outbox.sqlite3"


def watch_outbox(folder: Path, outbox: Path, default: Path) -> Path:
    """The outbox the watcher of ``folder`` uses: ``folder/.outbox.sqlite3`` unless another was chosen."""
    return folder / FOLDER_OUTBOX if outbox == default else outbox


def outbox_counts(outbox: Path) -> dict[str, int]:
    """Entries by state, every state listed; all zero when nothing was ever queued there."""
    if not outbox.exists():
        return dict.fromkeys(STATES, 0)
    with Outbox(outbox) as opened:
        return opened.counts()


def counts_line(counts: dict[str, int]) -> str:
    """``pending 2, received 0, accepted 5, …``: the one-line summary the status commands print."""
    return ", ".join(f"{state} {count}" for state, count in counts.items())
