"""``exchange connect watch --status``: what the folder's outbox holds, read without the repository."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from connectors.outbox import Outbox, Queued
from connectors.watch_status import counts_line, outbox_counts, watch_outbox
from exchange.cli.main import cli


def test_the_folder_names_its_outbox_unless_another_is_chosen(tmp_path: Path) -> None:
    default = Path("exchange-outbox.sqlite3")
    assert watch_outbox(tmp_path, default, default) == tmp_path / ".outbox.sqlite3"
    assert watch_outbox(tmp_path, tmp_path / "other.sqlite3", default) == tmp_path / "other.sqlite3"


def test_counts_of_an_outbox_never_written_are_zero(tmp_path: Path) -> None:
    counts = outbox_counts(tmp_path / ".outbox.sqlite3")
    assert counts_line(counts) == "pending 0, received 0, held 0, accepted 0, rejected 0, refused 0, returned 0"
    assert not (tmp_path / ".outbox.sqlite3").exists()  # reading the status creates nothing


def test_watch_status_prints_the_counts_and_exits(tmp_path: Path) -> None:
    with Outbox(tmp_path / ".outbox.sqlite3") as outbox:
        outbox.enqueue("ZAF", [Queued("law", "act-1", {"title": "one"}), Queued("law", "act-2", {"title": "two"})])
    result = CliRunner().invoke(cli, ["connect", "watch", str(tmp_path), "--status"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == "pending 2, received 0, held 0, accepted 0, rejected 0, refused 0, returned 0\n"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []  # nothing moved
