"""The folder watcher end to end: files dropped into a folder, a real server, verdicts beside the files."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from connectors.outbox import Outbox
from connectors.watcher import Watcher
from tests.connectors.conftest import FAST, Repository, Served, open_repository
from tests.support import example, shared_path

CSV = """iso3,title_original,lang,doc_type,status,citation,offences,row_type,provision_num,provision_heading
ZAF,Electronic Communications and Transactions Act,en,act,amended,Act 25 of 2002,off.cia.illegal_access,,,
,,,,,,off.cia.illegal_access,provision,86,Unauthorised access to data
"""
BAD_CSV = """iso3,title_original,lang,doc_type,status,offences
ZAF,Some Act,en,act,in_force,off.cia.illegal_acess
"""


def verdict(folder: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((folder / f"{name}.verdict.json").read_text(encoding="utf-8")))


def test_the_watcher_end_to_end(served: Served, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(shared_path("data", "akn", "handmade_za_act_2020_19_skeleton.xml"), inbox / "za-act.xml")
    _, zaf = example("law", "zaf-cybercrimes-act-2020")
    zaf.pop("identifiers")  # it is the Act the AKN file holds too: one of them would be a duplicate
    (inbox / "cybercrimes.json").write_text(json.dumps(zaf))
    (inbox / "laws.csv").write_text(CSV)
    (inbox / "bad-terms.csv").write_text(BAD_CSV)
    _, gbr = example("law", "gbr-computer-misuse-act-1990")
    (inbox / "foreign.json").write_text(json.dumps(gbr))
    (inbox / "broken.xml").write_text("<akomaNtoso")
    (inbox / "withdraw.json").write_text(json.dumps({"kind": "law", "record_id": "never-was", "action": "withdraw"}))
    (inbox / ".partial.json").write_text("{")
    (inbox / "notes.txt").write_text("not for the repository")

    args = [a for a in served.args(tmp_path / "unused") if a not in ("--outbox", str(tmp_path / "unused"))]
    result = served.run("connect", "watch", str(inbox), *args, "--once", "--settle", "0", "--timeout", "30")
    assert result.returncode == 1, result.stdout + result.stderr  # some files were rejected

    done, rejected = inbox / "done", inbox / "rejected"
    assert sorted(p.name for p in done.iterdir() if not p.name.endswith(".verdict.json")) == [
        "cybercrimes.json",
        "laws.csv",
        "za-act.xml",
    ]
    assert sorted(p.name for p in rejected.iterdir() if not p.name.endswith(".verdict.json")) == [
        "bad-terms.csv",
        "broken.xml",
        "foreign.json",
        "withdraw.json",
    ]
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [".outbox.sqlite3", ".partial.json", "notes.txt"]

    act = verdict(done, "za-act.xml")
    assert act["status"] == "accepted"
    assert act["submissions"] == [
        {
            "record": "ZAF/law/za-act-2020-19",
            "submission_id": act["submissions"][0]["submission_id"],
            "status": "accepted",
            "version": 1,
            "seq": act["submissions"][0]["seq"],
            "log_index": act["submissions"][0]["log_index"],
        }
    ]
    assert verdict(done, "laws.csv")["submissions"][0]["record"] == "ZAF/law/zaf-act-25-of-2002"
    bad = verdict(rejected, "bad-terms.csv")
    assert bad["status"] == "rejected" and bad["submissions"] == []
    assert bad["errors"][0]["where"] == "line 2, column F (offences)"
    assert "jurisdiction:not-permitted" in json.dumps(verdict(rejected, "foreign.json")["errors"])
    assert "not well-formed XML" in json.dumps(verdict(rejected, "broken.xml")["errors"])
    refused = verdict(rejected, "withdraw.json")["submissions"][0]
    assert refused["status"] == "rejected" and refused["errors"][0]["rule"] == "record:not-found"

    # dropping the same file again is accepted as unchanged (no new version); nothing else is sent twice
    shutil.copy(done / "za-act.xml", inbox / "za-act.xml")
    again = served.run("connect", "watch", str(inbox), *args, "--once", "--settle", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    renamed = list(done.glob("*-za-act.xml.verdict.json"))
    assert len(renamed) == 1
    [resent] = json.loads(renamed[0].read_text())["submissions"]
    assert (resent["status"], resent["version"], resent["unchanged"]) == ("accepted", 1, True)


async def test_a_file_waits_out_an_outage_and_is_sent_once(tmp_path: Path) -> None:
    """The repository goes away after the file is queued: the file stays until its verdict comes."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _, zaf = example("law", "zaf-cybercrimes-act-2020")
    (inbox / "act.json").write_text(json.dumps(zaf))
    repository: Repository = await open_repository(tmp_path / "repository")
    try:
        async with repository.client() as client:
            with Outbox(inbox / ".outbox.sqlite3") as outbox:
                watcher = Watcher(inbox, client, outbox, None, settle=0)
                await watcher.scan()
                assert watcher.pending() and (inbox / "act.json").exists()
                await watcher.scan()  # seen again: not queued twice
                assert outbox.counts()["pending"] == 1
        port = repository.http.server.port
    finally:
        await repository.http.close()
    from connectors.sdk import ExchangeClient

    async with ExchangeClient(f"http://127.0.0.1:{port}", key=repository.key, token="x", retry=FAST) as client:
        with Outbox(inbox / ".outbox.sqlite3") as outbox:
            watcher = Watcher(inbox, client, outbox, None, settle=0)
            await watcher.step(wait=0.1)
            assert (inbox / "act.json").exists() and outbox.counts()["pending"] == 1
    back = await open_repository(tmp_path / "repository-2")
    try:
        async with back.client() as client:
            with Outbox(inbox / ".outbox.sqlite3") as outbox:
                watcher = Watcher(inbox, client, outbox, None, settle=0)
                await asyncio.wait_for(watcher.once(20), 30)
                assert not watcher.pending()
        assert (inbox / "done" / "act.json").exists()
        assert verdict(inbox / "done", "act.json")["submissions"][0]["version"] == 1
    finally:
        await back.http.close()


def test_links_and_other_files_are_never_taken_and_are_named(tmp_path: Path) -> None:
    from connectors.watcher import candidates, ignored

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "private.json"
    secret.write_text('{"kind": "law"}', encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "done").mkdir()
    (inbox / "law.json").write_text('{"kind": "law"}', encoding="utf-8")
    (inbox / "notes.txt").write_text("hello", encoding="utf-8")
    (inbox / "link.json").symlink_to(secret)
    (inbox / "folder-link").symlink_to(outside, target_is_directory=True)
    assert [p.name for p in candidates(inbox, 0.0)] == ["law.json"]
    assert ignored(inbox) == ["folder-link", "link.json", "notes.txt"]
