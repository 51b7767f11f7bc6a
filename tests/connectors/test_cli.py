"""The command line: --dry-run on every importer, --out, help texts, the outbox commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exchange.cli.main import cli
from tests.connectors.conftest import Repository
from tests.support import shared_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("command", "first_line"),
    [
        (["import"], "Import laws and cases from Akoma Ntoso, Atom feeds or CSV, then submit them."),
        (
            ["import", "akn"],
            "Map an Akoma Ntoso act (to a law) or judgment (to a case) from FILE or URL, and submit it.",
        ),
        (
            ["import", "atom"],
            "Prepare draft law submissions from a gazette's Atom feed (URL or FILE), following its pages.",
        ),
        (
            ["import", "csv"],
            "Import laws from a CSV file (one row per law, optional provision rows; see docs/csv-template.md).",
        ),
        (["outbox"], "The local outbox: submissions waiting for the repository."),
        (
            ["outbox", "status"],
            "Count the outbox's entries by state and list those still waiting (pending, received, held).",
        ),
        (
            ["outbox", "flush"],
            "Send what waits in the outbox, in order per record; with --token, wait for the verdicts.",
        ),
        (["connect"], "Keep a folder synchronised with the repository."),
        (["connect", "watch"], "Sign and submit every JSON, CSV or Akoma Ntoso file dropped into FOLDER."),
    ],
)
def test_help(command: list[str], first_line: str) -> None:
    code, out, _ = run(*command, "--help")
    assert code == 0 and first_line in " ".join(out.split())


def test_import_akn_dry_run_prints_the_record_and_what_was_not_mapped(akn_dir: Path) -> None:
    code, out, err = run("import", "akn", str(akn_dir / "oasis_uk_pga-2014-27-enacted-data.xml"), "--dry-run")
    assert code == 0, err
    (wrapper,) = json.loads(out)
    assert wrapper["kind"] == "law" and wrapper["record_id"] == "ukpga-2014-27"
    assert wrapper["record"]["status"] == "repealed"
    assert "pre-standard namespace" in err and "nothing sent (--dry-run)" in err
    quiet_code, _, quiet_err = run(
        "import", "akn", str(akn_dir / "oasis_uk_pga-2014-27-enacted-data.xml"), "--dry-run", "-q"
    )
    assert quiet_code == 0 and "pre-standard namespace" not in quiet_err


def test_dry_run_applies_the_submitter_s_scope(akn_dir: Path) -> None:
    path = str(akn_dir / "oasis_uk_pga-2014-27-enacted-data.xml")
    code, _, err = run("import", "akn", path, "--dry-run", "--kid", "ZAF/2026-01")
    assert code == 1
    assert "/record/jurisdiction: ZAF may not submit records about" in err
    code, _, err = run("import", "akn", path, "--dry-run", "--kid", "GBR/2026-01")
    assert code == 0, err
    code, _, err = run("import", "akn", path, "--dry-run", "--kid", "not a kid")
    assert code == 2 and "is not a key id" in err


def test_import_csv_dry_run_reports_line_and_column(tmp_path: Path) -> None:
    sheet = tmp_path / "laws.csv"
    sheet.write_text("iso3,title_original,lang,doc_type,status\nZAF,Act,en,law,in_force\n", encoding="utf-8")
    code, out, err = run("import", "csv", str(sheet), "--dry-run", "--kid", "ZAF/2026-01")
    assert code == 1
    assert "line 2, column D (doc_type)" in err
    assert json.loads(out)[0]["record"]["document_type"] == "law"


def test_import_atom_dry_run_and_out(feed_file: Path, tmp_path: Path) -> None:
    code, out, err = run("import", "atom", str(feed_file), "--dry-run", "--no-akn", "--match", "police,gloucester")
    assert code == 0, err
    assert [w["record_id"] for w in json.loads(out)] == ["uksi-2015-2028", "uksi-2015-2026"]
    code, out, err = run(
        "import", "atom", str(feed_file), "--no-akn", "--match", "police", "--out", str(tmp_path / "drafts")
    )
    assert code == 0, err
    written = tmp_path / "drafts" / "law" / "uksi-2015-2028.json"
    assert out.strip() == str(written)
    assert json.loads(written.read_text())["record"]["citation"] == "S.I. 2015/2028"


def test_sending_needs_a_url_and_a_key(akn_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXCHANGE_CLIENT_URL", "EXCHANGE_CLIENT_KID", "EXCHANGE_CLIENT_KEY", "EXCHANGE_CLIENT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = str(akn_dir / "handmade_za_act_2020_19_skeleton.xml")
    code, _, err = run("import", "akn", path)
    assert code == 2 and "--url" in err
    code, _, err = run("import", "akn", path, "--url", "http://127.0.0.1:9")
    assert code == 2 and "--kid and --key" in err
    code, _, err = run("import", "akn", str(Path(path).with_name("absent.xml")), "--dry-run")
    assert code == 1 and "cannot read" in err
    code, _, err = run("connect", "watch", str(Path(path).parent), "--url", "http://127.0.0.1:9")
    assert code == 2 and "--token" in err


async def test_import_and_outbox_commands_against_the_app(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's own client over HTTP: import a judgment and a CSV, then the outbox status."""
    import asyncio

    key_file = tmp_path / "key.pem"
    key_file.write_bytes(repository.key.private_pem())
    outbox = tmp_path / "outbox.sqlite3"
    target = [
        "--url",
        repository.url,
        "--kid",
        repository.key.kid,
        "--key",
        str(key_file),
        "--token",
        repository.token,
        "--outbox",
        str(outbox),
    ]
    judgment = shared_path("data", "akn", "oasis_za_Judgement_2008-11-26.xml")
    code, out, err = await asyncio.to_thread(run, "import", "akn", str(judgment), *target)
    assert code == 0, out + err
    assert "ZAF/case/za-judgement-2008-11-26-653-07: accepted version 1" in out
    sheet = tmp_path / "laws.csv"
    sheet.write_text(
        "iso3,title_original,lang,doc_type,status,offences\n"
        "ZAF,Act A,en,act,in_force,off.cia.illegal_access\n"
        "ZAF,Act B,en,act,in_force,\n",
        encoding="utf-8",
    )
    code, out, err = await asyncio.to_thread(run, "import", "csv", str(sheet), *target)
    assert code == 0, out + err
    assert "ZAF/law/zaf-act-a: accepted version 1" in out and "ZAF/law/zaf-act-b: accepted version 1" in out
    code, out, err = await asyncio.to_thread(run, "import", "csv", str(sheet), *target)  # a nightly re-import
    assert code == 0, out + err
    assert "ZAF/law/zaf-act-a: accepted, unchanged: version 1 already holds it" in out
    code, out, _ = await asyncio.to_thread(run, "outbox", "status", "--outbox", str(outbox), "--all")
    assert (
        code == 0
        and out.splitlines()[0] == "pending 0, received 0, held 0, accepted 5, rejected 0, refused 0, returned 0"
    )
    code, out, _ = await asyncio.to_thread(run, "outbox", "retry", "--outbox", str(outbox))
    assert code == 0 and "0 entr(ies)" in out
    code, _, err = run("outbox", "status", "--outbox", str(tmp_path / "none.sqlite3"))
    assert code == 1 and "no outbox" in err


async def test_import_akn_from_a_url(akn_dir: Path, web_server: Any) -> None:
    import asyncio

    body = (akn_dir / "handmade_za_act_2020_19_skeleton.xml").read_bytes()
    base = await web_server({"/akn/za/act/2020/19/eng@2021-06-01": (200, "application/akn+xml", body)})
    url = f"{base}/akn/za/act/2020/19/eng@2021-06-01"
    code, out, err = await asyncio.to_thread(run, "import", "akn", url, "--dry-run", "--kid", "ZAF/2026-01")
    assert code == 0, err
    (wrapper,) = json.loads(out)
    assert wrapper["record"]["attachments"][0]["url"] == url
    assert wrapper["record"]["provenance"]["source_uri"] == url
    code, _, err = await asyncio.to_thread(run, "import", "akn", f"{base}/missing", "--dry-run")
    assert code == 1 and "HTTP 404" in err


def test_watch_and_flush_dry_runs_send_and_move_nothing(akn_dir: Path, tmp_path: Path) -> None:
    import shutil

    from connectors.outbox import Outbox, Queued

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(akn_dir / "handmade_za_act_2020_19_skeleton.xml", inbox / "act.xml")
    (inbox / "broken.json").write_text("{")
    code, out, err = run("connect", "watch", str(inbox), "--dry-run", "--kid", "ZAF/2026-01")
    assert code == 1
    assert [w["record_id"] for w in json.loads(out)] == ["za-act-2020-19", "broken"]
    assert "broken.json [broken]: error" in err and "2 record(s) in" in err
    assert sorted(p.name for p in inbox.iterdir()) == ["act.xml", "broken.json"]  # nothing moved, no outbox

    outbox = tmp_path / "outbox.sqlite3"
    with Outbox(outbox) as box:
        box.enqueue("ZAF", [Queued("law", "a", {"jurisdiction": "ZAF"}), Queued("law", "b", action="withdraw")])
    code, out, err = run("outbox", "flush", "--outbox", str(outbox), "--dry-run")
    assert code == 1 and [w["record_id"] for w in json.loads(out)] == ["a", "b"]
    assert '/record/title: The member "title" is required.' in err
    with Outbox(outbox) as box:
        assert box.counts()["pending"] == 2


def test_a_submission_too_large_for_the_repository_is_flagged(tmp_path: Path) -> None:
    from tests.connectors.test_akn import act

    sections = "".join(
        f'<section eId="sec_{n}"><num>{n}</num><content><p>{"text " * 1000}</p></content></section>' for n in range(300)
    )
    path = tmp_path / "big.xml"
    path.write_bytes(act(body=sections))
    code, _, err = run("import", "akn", str(path), "--dry-run", "--provision-text", "full", "-q")
    assert code == 0 and "repositories accept 1 MiB by default" in err
    code, _, err = run("import", "akn", str(path), "--dry-run", "-q")
    assert code == 0 and "1 MiB" not in err  # the default extract keeps it small
