"""The Akoma Ntoso importer: every shared fixture, then hand-made edge cases."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.akn import AknOptions, import_akn
from connectors.local import validator
from connectors.model import Imported, ImportFailure
from tests.support import SHARED, reference_missing

FINAL = "http://docs.oasis-open.org/legaldocml/ns/akn/3.0"
WD17 = "http://docs.oasis-open.org/legaldocml/ns/akn/3.0/WD17"
AKN_FILES = sorted((SHARED / "data" / "akn").glob("*.xml"))


def valid(imported: Imported) -> None:
    issues = validator().validate_record(f"{imported.kind}/1", imported.record)
    assert issues == [], issues


def messages(imported: Imported, level: str | None = None) -> str:
    return "\n".join(str(n) for n in imported.notes if level is None or n.level == level)


@pytest.mark.parametrize("path", AKN_FILES or [None], ids=lambda p: p.name if p else "absent")
def test_every_shared_file_maps_to_a_valid_record(path: Path | None, akn_dir: Path) -> None:
    if path is None:
        reference_missing(f"{akn_dir} holds no Akoma Ntoso file")
    imported = import_akn(path.read_bytes(), source=path.name)
    valid(imported)
    assert imported.ok, messages(imported)
    assert imported.kind == ("case" if "Judgement" in path.name else "law")
    assert imported.record_id and imported.record["identifiers"][0]["value"]
    attachment = imported.record["attachments"][0]
    assert attachment["media_type"] == "application/akn+xml" and len(attachment["sha256"]) == 64
    if "WD17" in path.read_text(encoding="utf-8"):
        assert "pre-standard namespace" in messages(imported, "info")


def test_uk_act_in_the_wd17_namespace(akn_dir: Path) -> None:
    imported = import_akn((akn_dir / "oasis_uk_pga-2014-27-enacted-data.xml").read_bytes(), source="uk.xml")
    record = imported.record
    assert imported.record_id == "ukpga-2014-27"
    assert record["jurisdiction"] == "GBR"  # FRBRcountry GB-UKM: the whole country, no subdivision
    assert "subdivision" not in record
    assert record["title"]["original"] == {"lang": "en", "text": "Data Retention and Investigatory Powers Act 2014"}
    assert record["identifiers"] == [
        {"scheme": "legislation.gov.uk", "value": "http://www.legislation.gov.uk/id/ukpga/2014/27"}
    ]
    assert record["citation"] == "2014 c. 27"
    assert record["dates"] == {"adopted": "2014-07-17", "repealed": "2016-12-31"}
    assert record["status"] == "repealed"
    assert {"type": "amends", "identifier": {"scheme": "akn", "value": "/akn/uk/act/2000-07-28/chapter23"}} in record[
        "relations"
    ]
    nums = [p["num"] for p in record["provisions"]]
    assert nums == ["1", "2", "3", "4", "5", "6", "7", "8"]  # none of the sections quoted in amendments
    assert record["provisions"][0]["heading"].startswith("Powers for retention")
    assert all(len(p.get("text", "")) <= 1000 for p in record["provisions"])


def test_us_act_notes_what_it_could_not_map(akn_dir: Path) -> None:
    imported = import_akn((akn_dir / "oasis_us_Act_2011-11-29.xml").read_bytes(), source="us.xml")
    record = imported.record
    assert record["jurisdiction"] == "USA"
    assert record["title"]["original"]["text"] == "America's Cup Act of 2011"  # the short title, not the long one
    assert record["summary"]["original"]["text"].startswith("To facilitate the hosting")
    assert record["citation"] == "Public Law 112-61"
    assert record["dates"]["entry_into_force"] == "2011-11-29"
    assert record["publication"] == {"name": "GPO", "number": "125 STAT.", "date": "2011-11-29"}
    assert record["status"] == "in_force"
    assert record["provisions"][1]["heading"] == "DEFINITIONS."
    notes = messages(imported)
    assert "editorial matter" in notes  # the page-break "section"
    assert '"/eli/us/xxx" is not an absolute URI' in notes
    assert "Act on ALFA" in notes


def test_south_african_act_in_the_final_namespace(akn_dir: Path) -> None:
    imported = import_akn((akn_dir / "handmade_za_act_2020_19_skeleton.xml").read_bytes(), source="za.xml")
    record = imported.record
    assert imported.record_id == "za-act-2020-19"
    assert record["identifiers"] == [{"scheme": "akn", "value": "/akn/za/act/2020/19"}]
    assert record["citation"] == "Act 19 of 2020"
    assert record["dates"] == {"adopted": "2021-05-26", "published": "2021-06-01", "entry_into_force": "2021-12-01"}
    assert record["publication"] == {"name": "Government Gazette", "number": "44651", "date": "2021-06-01"}
    assert [(p["eid"], p["num"], p["heading"]) for p in record["provisions"]] == [
        ("sec_2", "2", "Unlawful access"),
        ("sec_3", "3", "Unlawful interception of data"),
        ("sec_8", "8", "Cyber fraud"),
    ]
    assert "namespace" not in messages(imported)
    assert "Proclamation R42 of 2021" in messages(imported)  # a passive reference: reported, not mapped


def test_judgment_becomes_a_case(akn_dir: Path) -> None:
    imported = import_akn((akn_dir / "oasis_za_Judgement_2008-11-26.xml").read_bytes(), source="j.xml")
    record = imported.record
    assert imported.kind == "case"
    assert record["case_type"] == "court_decision" and record["jurisdiction"] == "ZAF"
    assert record["title"]["original"]["text"] == "Fourway Haulage v SA National Roads Agency (653/07)"
    assert record["court"]["original"]["text"] == "SUPREME COURT OF APPEAL REPUBLIC OF SOUTH AFRICA"
    assert record["case_number"] == "653/07" and record["citation"] == "[2008] ZASCA 134"
    assert record["decision_date"] == "2008-11-26" and record["stage"] == "appeal"
    assert record["outcome"]["original"]["text"].startswith("For these reasons the appeal is dismissed")
    assert "Delict" in record["keywords"]
    notes = messages(imported)
    assert 'result "deny" is not mapped' in notes and "judge(s) not mapped" in notes


# --- hand-made edge cases -----------------------------------------------------------------------------


def act(
    namespace: str = FINAL,
    *,
    work: str = '<FRBRuri value="/akn/ke/act/2018/5"/><FRBRdate date="2018-05-16" name="Generation"/>'
    '<FRBRcountry value="ke"/>',
    language: str = '<FRBRlanguage language="eng"/>',
    lifecycle: str = "",
    body: str = '<section eId="sec_1"><num>1.</num><heading>Short title</heading><content><p>Text.</p></content>'
    "</section>",
    document: str = "act",
    preface: str = "<preface><p><shortTitle>Computer Misuse and Cybercrimes Act, 2018</shortTitle></p></preface>",
    references: str = "",
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<akomaNtoso xmlns="{namespace}"><{document} name="{document}"><meta>
<identification source="#x"><FRBRWork>{work}</FRBRWork><FRBRExpression>{language}</FRBRExpression></identification>
<lifecycle source="#x">{lifecycle}</lifecycle><references source="#x">{references}</references></meta>
{preface}<body>{body}</body></{document}></akomaNtoso>""".encode()


def test_the_older_namespace_reads_like_the_final_one() -> None:
    final = import_akn(act(FINAL), source="a.xml", options=AknOptions(today=date(2026, 1, 1)))
    older = import_akn(act(WD17), source="a.xml", options=AknOptions(today=date(2026, 1, 1)))
    final.record.pop("attachments"), older.record.pop("attachments")
    final.record.pop("provenance"), older.record.pop("provenance")
    assert final.record == older.record
    valid(final)
    assert "pre-standard namespace" in messages(older) and "namespace" not in messages(final)
    akn2 = import_akn(act("http://www.akomantoso.org/2.0"), source="a.xml")
    assert "Akoma Ntoso 2.0" in messages(akn2, "warning")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not xml at all", "not well-formed XML"),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', "not an Akoma Ntoso document"),
        (act(document="debate"), "acts and bills become laws, judgments become cases"),
        (
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx"><!ENTITY y "&x;&x;&x;&x;">]>'
            b'<akomaNtoso xmlns="http://docs.oasis-open.org/legaldocml/ns/akn/3.0">&y;</akomaNtoso>',
            "refused",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd"><akomaNtoso/>',
            "refused",
        ),
    ],
)
def test_what_is_not_akoma_ntoso_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ImportFailure, match=reason):
        import_akn(data, source="x.xml")


def test_country_from_the_uri_a_locality_and_an_unknown_code() -> None:
    from_uri = import_akn(act(work='<FRBRuri value="/akn/ke/act/2018/5"/>'), source="a.xml")
    assert from_uri.record["jurisdiction"] == "KEN" and "read from the work URI" in messages(from_uri)
    local = import_akn(
        act(work='<FRBRuri value="/akn/za-cpt/act/by-law/2019/x"/><FRBRcountry value="za-cpt"/>'), source="a"
    )
    assert local.record["jurisdiction"] == "ZAF" and "subdivision" not in local.record
    assert 'locality "cpt"' in messages(local, "warning")
    unknown = import_akn(act(work='<FRBRuri value="/akn/xx/act/1/2"/><FRBRcountry value="xx"/>'), source="a")
    assert not unknown.ok and "--jurisdiction" in messages(unknown, "error")
    fixed = import_akn(
        act(work='<FRBRuri value="/akn/xx/act/1/2"/><FRBRcountry value="xx"/>'),
        source="a",
        options=AknOptions(jurisdiction="KEN"),
    )
    assert fixed.ok and fixed.record["jurisdiction"] == "KEN"


@pytest.mark.parametrize(
    ("element", "tag", "note"),
    [
        ('<FRBRlanguage language="fra"/>', "fr", None),
        ('<FRBRlanguage language="fre"/>', "fr", None),
        ('<FRBRlanguage language="swa"/>', "sw", None),
        ('<FRBRlanguage language="nso"/>', "nso", "three-letter"),
        ('<FRBRlanguage language="123"/>', "en", "taken to be English"),
        ("", "en", "taken to be English"),
    ],
)
def test_languages_become_bcp47(element: str, tag: str, note: str | None) -> None:
    imported = import_akn(act(language=element), source="a.xml")
    assert imported.record["title"]["original"]["lang"] == tag
    if note:
        assert note in messages(imported)
    valid(imported)


def test_lifecycle_events_give_dates_and_status() -> None:
    references = (
        '<TLCEvent eId="commencement" href="/ontology/events/commencement" showAs="Commencement"/>'
        '<TLCEvent eId="amendment" href="/ontology/events/amendment" showAs="Amendment"/>'
    )
    later = act(
        lifecycle='<eventRef date="2031-01-01" type="generation" refersTo="#commencement"/>', references=references
    )
    imported = import_akn(later, source="a", options=AknOptions(today=date(2026, 1, 1)))
    assert imported.record["status"] == "adopted_not_in_force"
    assert imported.record["dates"]["entry_into_force"] == "2031-01-01"
    parts = act(
        lifecycle='<eventRef date="2019-01-01" refersTo="#commencement"/><eventRef date="2020-06-01" '
        'refersTo="#commencement"/><eventRef date="2022-03-04Z" type="amendment" refersTo="#amendment"/>',
        references=references,
    )
    imported = import_akn(parts, source="a", options=AknOptions(today=date(2026, 1, 1)))
    assert imported.record["dates"]["entry_into_force"] == "2019-01-01"
    assert imported.record["dates"]["last_amended"] == "2022-03-04"  # a "Z" after the date is tolerated
    assert imported.record["status"] == "amended"
    assert "commenced in parts" in messages(imported, "warning")
    silent = import_akn(act(), source="a")
    assert silent.record["status"] == "in_force" and "no commencement event" in messages(silent, "warning")
    overridden = import_akn(act(), source="a", options=AknOptions(status="partially_in_force"))
    assert overridden.record["status"] == "partially_in_force"
    odd = import_akn(act(lifecycle='<eventRef eId="e9" date="someday"/>'), source="a")
    assert "not a calendar date" in messages(odd)


def test_a_bill_is_a_draft() -> None:
    imported = import_akn(act(document="bill"), source="b.xml")
    assert imported.record["document_type"] == "bill" and imported.record["status"] == "draft"
    valid(imported)


def test_provisions_articles_quotations_and_text_modes() -> None:
    body = (
        '<part eId="part_1"><num>I</num><article eId="art_1"><num>Article 1</num><heading>Scope</heading>'
        "<paragraph><content><p>This law applies to <i>computer data</i>.</p></content></paragraph></article>"
        '<article eId="art_2"><num>Article 2</num><content><p>In Article 9 insert:</p>'
        '<p><mod><quotedStructure><article eId="mod_art_9a"><num>9a</num></article></quotedStructure></mod></p>'
        "</content></article></part>"
        '<section eId="bad id!"><num>3</num><authorialNote><p>ignored</p></authorialNote></section>'
        '<section eId="sec_4"><content><p>no number</p></content></section>'
        "<section><content><p>neither</p></content></section>"
    )
    imported = import_akn(act(body=body), source="a.xml")
    provisions = imported.record["provisions"]
    assert [p["num"] for p in provisions] == ["Article 1", "Article 2", "3", "4"]
    assert provisions[0] == {
        "eid": "art_1",
        "num": "Article 1",
        "heading": "Scope",
        "text": "This law applies to computer data.",
    }
    assert "9a" in provisions[1]["text"]  # quoted text stays in the amending provision's text
    assert "eid" not in provisions[2] and "ignored" not in str(provisions[2])
    assert "no <num>: provision left out" in messages(imported)
    none = import_akn(act(body=body), source="a.xml", options=AknOptions(provision_text="none"))
    assert all("text" not in p for p in none.record["provisions"])
    long_body = '<section eId="sec_1"><num>1</num><content><p>' + "word " * 1000 + "</p></content></section>"
    extract = import_akn(act(body=long_body), source="a.xml", options=AknOptions(text_limit=100))
    assert len(extract.record["provisions"][0]["text"]) == 100 and extract.record["provisions"][0]["text"].endswith("…")
    full = import_akn(act(body=long_body), source="a.xml", options=AknOptions(provision_text="full"))
    assert len(full.record["provisions"][0]["text"]) > 4000
    empty = import_akn(act(body="<p>nothing</p>"), source="a.xml")
    assert "provisions" not in empty.record and "no sections, articles or rules" in messages(empty)


def test_a_title_is_required_and_the_record_id_can_be_given() -> None:
    untitled = import_akn(act(preface=""), source="a.xml")
    assert not untitled.ok and "no title" in messages(untitled, "error")
    named = import_akn(act(), source="a.xml", options=AknOptions(record_id="ken-cmca-2018"))
    assert named.record_id == "ken-cmca-2018"
    assert import_akn(act(), source="a.xml").record_id == "ke-act-2018-5"


def test_a_url_source_is_attached_by_url() -> None:
    imported = import_akn(
        act(), source="https://laws.test/akn/ke/act/2018/5", url="https://laws.test/akn/ke/act/2018/5"
    )
    assert imported.record["attachments"][0]["url"] == "https://laws.test/akn/ke/act/2018/5"
    assert imported.record["provenance"]["source_uri"] == "https://laws.test/akn/ke/act/2018/5"
