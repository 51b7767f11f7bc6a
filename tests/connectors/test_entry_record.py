"""An outbox entry read back as an imported record, checked again before a dry run prints it."""

from __future__ import annotations

from pathlib import Path

from connectors.delivery import entry_record
from connectors.outbox import Outbox, Queued


def test_an_entry_is_checked_again_and_keeps_its_source(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.enqueue("ZAF", [Queued("law", "act-1", {"title": "no other field"}, source="laws.csv:2")])
        [entry] = outbox.entries(("pending",))
    imported = entry_record(entry)
    assert (imported.kind, imported.record_id, imported.source, imported.action) == (
        "law",
        "act-1",
        "laws.csv:2",
        "upsert",
    )
    assert imported.record == {"title": "no other field"}
    assert not imported.ok and any(note.level == "error" for note in imported.notes)


def test_a_withdrawal_is_not_checked_against_a_schema_and_names_its_place_in_the_queue(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.enqueue("ZAF", [Queued("law", "act-1", None, "withdraw")])
        [entry] = outbox.entries(("pending",))
    imported = entry_record(entry)
    assert imported.action == "withdraw" and imported.notes == [] and imported.ok
    assert imported.source == f"#{entry.seq}"
