"""The CSV importer: the documented template, the shared seed sheet, and every kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.csv_import import column_letter, import_csv
from connectors.local import validator
from connectors.model import ImportFailure, ImportReport
from exchange.validation import ParticipantScope
from tests.support import shared_path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "csv-template.md"
HEADER = (
    "row_type,record_id,jurisdiction,lang,title_original,title_fr,citation,document_type,status,date_adopted,"
    "date_entry_into_force,identifier_scheme,identifier,offence_categories,procedural_powers,provision_num,"
    "provision_eid,provision_heading,instrument_refs"
)


def errors(report: ImportReport) -> list[str]:
    return [str(note) for _, note in report.all_notes() if note.level == "error"]


def template_example() -> bytes:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```csv\n(.*?)```", text, re.DOTALL)
    assert block is not None
    return block.group(1).encode()


def test_the_documented_example_imports_cleanly() -> None:
    report = import_csv(template_example(), source="example.csv")
    assert errors(report) == []
    first, second = report.records
    assert first.record_id == "zaf-cybercrimes-act-2020"
    record = first.record
    assert record["title"] == {
        "original": {"lang": "en", "text": "Cybercrimes Act, 2020"},
        "translations": [{"lang": "fr", "text": "Loi sur la cybercriminalité, 2020", "official": False}],
    }
    assert record["identifiers"] == [{"scheme": "akn", "value": "/akn/za/act/2020/19"}]
    assert record["dates"] == {"adopted": "2021-05-26", "entry_into_force": "2021-12-01"}
    assert record["provisions"] == [
        {
            "num": "2",
            "eid": "sec_2",
            "heading": "Unlawful access",
            "offence_categories": ["off.cia.illegal_access"],
            "instrument_refs": [
                {"instrument": "inst.coe.ets185", "article": "2"},
                {"instrument": "inst.un.uncc2024", "article": "7"},
            ],
        },
        {
            "num": "8",
            "eid": "sec_8",
            "heading": "Cyber fraud",
            "offence_categories": ["off.gain.fraud"],
            "instrument_refs": [{"instrument": "inst.coe.ets185", "article": "8"}],
        },
    ]
    assert second.record["offence_categories"] == ["off.cia.illegal_access", "off.cia.misuse_of_devices"]
    for imported in report.records:
        assert validator().validate_record("law/1", imported.record) == []


def test_the_shared_seed_sheet() -> None:
    path = shared_path("data", "seed", "seed_national_laws.csv")
    report = import_csv(path.read_bytes(), source=path.name)
    assert len(report.records) == 20
    bad = [r for r in report.records if not r.ok]
    # the EU directive has no country: the one row a State-only law record cannot hold
    assert [r.record_id for r in bad] == ["law-eu-2013-40"]
    assert errors(report) == ['error: line 7, column B (iso3): The member "jurisdiction" is required.']
    notes = "\n".join(str(n) for n in report.notes)
    assert "column U (provisions): column not imported" in notes and "column V (verification)" in notes
    gbr = next(r for r in report.records if r.record_id == "law-gbr-1990-18").record
    assert gbr["identifiers"] == [
        {"scheme": "legislation.gov.uk", "value": "http://www.legislation.gov.uk/id/ukpga/1990/18"}
    ]
    assert gbr["status"] == "amended" and gbr["dates"]["entry_into_force"] == "1990-08-29"
    assert gbr["sources"] == [{"url": "https://www.legislation.gov.uk/ukpga/1990/18/contents", "kind": "official_text"}]
    non_english = [r for r in report.records if r.record["title"]["original"]["lang"] != "en"]
    assert non_english and all(r.record["title"].get("translations") for r in non_english)


def sheet(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


LAW = "law,{rid},ZAF,en,Cybercrimes Act,,Act 19 of 2020,act,in_force,2021-05-26,,akn,/akn/za/act/2020/19,{terms},,,,,"


@pytest.mark.parametrize(
    ("row", "where", "message"),
    [
        (
            LAW.format(rid="a", terms="off.cia.illegal_access;off.cia.ilegal_access"),
            "line 2, column N (offence_categories)",
            '"off.cia.ilegal_access" is not a term of the offence_categories vocabulary',
        ),
        (
            LAW.format(rid="a", terms="proc.search_seizure"),
            "line 2, column N (offence_categories)",
            "is a term of the procedural_powers vocabulary, not of offence_categories",
        ),
        (
            LAW.format(rid="a", terms="").replace(",ZAF,", ",ZZZ,"),
            "line 2, column C (jurisdiction)",
            '"ZZZ" is not an ISO 3166-1 alpha-3 country code',
        ),
        (
            LAW.format(rid="a", terms="").replace("in_force", "in-force"),
            "line 2, column I (status)",
            "",
        ),
        (
            LAW.format(rid="a", terms="").replace("2021-05-26", "26/05/2021"),
            "line 2, column J (date_adopted)",
            '"26/05/2021" is not a date written YYYY-MM-DD',
        ),
        (
            LAW.format(rid="a", terms="").replace(",akn,", ",akoma,"),
            "line 2, column L (identifier_scheme)",
            "",
        ),
        (
            LAW.format(rid="a", terms="").replace(",en,", ",english language,"),
            "line 2, column D (lang)",
            "",
        ),
        (
            LAW.format(rid="a b", terms=""),
            "line 2, column B (record_id)",
            '"a b" is not a valid record id',
        ),
    ],
)
def test_law_cells_are_checked_with_line_and_column(row: str, where: str, message: str) -> None:
    report = import_csv(sheet(row), source="laws.csv")
    found = errors(report)
    assert any(where in e and message in e for e in found), found


def test_provision_rows_are_checked_on_their_own_line() -> None:
    rows = [
        LAW.format(rid="act-19", terms=""),
        "provision,,,,,,,,,,,,,off.cia.illegal_access,,2,sec_2,Unlawful access,inst.coe.ets185:999",
        "provision,,,,,,,,,,,,,off.nothing,,,sec_3,,inst.coe.ets185",
        "provision,act-19,,,,,,,,,,,,,proc.unknown,5,,,",
    ]
    report = import_csv(sheet(*rows), source="laws.csv")
    found = "\n".join(errors(report))
    assert 'line 3, column S (instrument_refs): "999" is not an article of inst.coe.ets185' in found
    assert 'line 4, column N (offence_categories): "off.nothing" is not a term' in found
    assert "line 4, column P (provision_num): a provision row needs provision_num" in found
    assert 'line 4, column S (instrument_refs): "inst.coe.ets185" is not written instrument:article' in found
    assert 'line 5, column O (procedural_powers): "proc.unknown" is not a term' in found


def test_structure_mistakes() -> None:
    orphan = import_csv(sheet("provision,,,,,,,,,,,,,,,2,,,"), source="x.csv")
    assert "a provision row must follow its law row" in "\n".join(errors(orphan))
    twice = import_csv(sheet(LAW.format(rid="a", terms=""), LAW.format(rid="a", terms="")), source="x.csv")
    assert 'line 3, column B (record_id): record id "a" is already used on line 2' in "\n".join(errors(twice))
    odd = import_csv(sheet(LAW.format(rid="a", terms="").replace("law,", "statute,", 1)), source="x.csv")
    assert '"statute" is not "law" or "provision"' in "\n".join(errors(odd))
    missing = import_csv(b"iso3,title_original\nZAF,Act\n", source="x.csv")
    assert not missing.ok and 'the column "status" is missing' in "\n".join(errors(missing))
    extra = import_csv(sheet(LAW.format(rid="a", terms=""), header=HEADER + ",colour"), source="x.csv")
    assert "column T (colour): not a column of the template" in "\n".join(str(n) for n in extra.notes)
    with pytest.raises(ImportFailure, match="not UTF-8"):
        import_csv("iso3\nCôte".encode("latin-1"), source="x.csv")
    with pytest.raises(ImportFailure, match="empty"):
        import_csv(b"", source="x.csv")


def test_spreadsheet_variants_semicolons_bom_and_default_ids() -> None:
    text = "\ufeffiso3;title;lang;doc_type;status;citation\nKEN;Computer Misuse and Cybercrimes Act, 2018;en;act;in_force;No. 5 of 2018\n"
    report = import_csv(text.encode("utf-8"), source="ken.csv")
    assert errors(report) == []
    assert report.records[0].record_id == "ken-no-5-of-2018"
    assert report.records[0].record["title"]["original"]["text"] == "Computer Misuse and Cybercrimes Act, 2018"


def test_the_scope_of_the_submitter_is_checked() -> None:
    gbr = ParticipantScope("GBR", "member_state", frozenset({"GBR"}))
    report = import_csv(sheet(LAW.format(rid="a", terms="")), source="x.csv", scope=gbr)
    assert "line 2, column C (jurisdiction): GBR may not submit records about" in "\n".join(errors(report))


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]
