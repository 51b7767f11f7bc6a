"""The Atom importer: the real legislation.gov.uk capture, paging and AKN hand-over over loopback, plain Atom."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.atom import AtomOptions, import_atom
from connectors.local import validator
from connectors.model import ImportFailure, ImportReport
from tests.support import shared_path

ATOM_TYPE = "application/atom+xml"


def notes(report: ImportReport, level: str | None = None) -> str:
    return "\n".join(str(n) for _, n in report.all_notes() if level is None or n.level == level)


async def test_the_legislation_gov_uk_capture(feed_file: Path) -> None:
    report = await import_atom(str(feed_file), options=AtomOptions(follow_akn=False))
    assert len(report.records) == 20
    for imported in report.records:
        assert validator().validate_record("law/1", imported.record) == [], imported.record_id
    by_id = {r.record_id: r.record for r in report.records}
    order = by_id["uksi-2015-2028"]
    assert order["jurisdiction"] == "GBR" and "subdivision" not in order
    assert order["citation"] == "S.I. 2015/2028" and order["document_type"] == "regulation"
    assert order["dates"] == {"adopted": "2015-12-14"}
    assert order["identifiers"] == [
        {"scheme": "legislation.gov.uk", "value": "http://www.legislation.gov.uk/id/uksi/2015/2028"}
    ]
    assert order["sources"] == [{"url": "http://www.legislation.gov.uk/uksi/2015/2028/made", "kind": "official_text"}]
    assert order["status"] == "adopted_not_in_force"
    assert order["summary"]["original"]["text"].startswith("This Order designates")
    assert by_id["ssi-2015-425"]["subdivision"] == "GB-SCT" and by_id["ssi-2015-425"]["citation"] == "S.S.I. 2015/425"
    northern_ireland = [r for rid, r in by_id.items() if rid.startswith("nisr-")]
    assert northern_ireland and all(r["subdivision"] == "GB-NIR" for r in northern_ireland)
    gloucester = by_id["uksi-2015-2026"]
    assert gloucester["relations"] == [
        {
            "type": "supersedes",
            "identifier": {
                "scheme": "legislation.gov.uk",
                "value": "http://www.legislation.gov.uk/id/ukdsi/2015/9780111140239",
            },
        }
    ]
    text = notes(report)
    assert "the feed has more pages (http://legislation.data.gov.uk/all/data.feed?sort=published&page=2)" in text
    assert "not mapped (no place in a law record): ISBN, Subject" in text
    assert "does not say whether the law is in force" in text


async def test_match_words(feed_file: Path) -> None:
    police = await import_atom(str(feed_file), options=AtomOptions(match=("POLICE",), follow_akn=False))
    assert [r.record_id for r in police.records] == ["uksi-2015-2028"]  # in the title, summary and subject
    none = await import_atom(str(feed_file), options=AtomOptions(match=("cybercrime",), follow_akn=False))
    assert none.records == [] and "20 entries, 0 matched" in notes(none)
    either = await import_atom(str(feed_file), options=AtomOptions(match=("gloucester", "deep sea"), follow_akn=False))
    assert len(either.records) == 2


def second_page(base: str, next_href: str | None) -> bytes:
    following = f'<link rel="next" href="{next_href}"/>' if next_href else ""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:ukm="http://www.legislation.gov.uk/namespaces/metadata">
<id>{base}/all/data.feed?page=2</id><title>Search Results</title><updated>2015-12-16T00:00:00Z</updated>
{following}
<entry><id>http://www.legislation.gov.uk/id/ukpga/2014/27</id>
<title>Data Retention and Investigatory Powers Act 2014</title>
<link href="{base}/ukpga/2014/27/enacted"/>
<link rel="alternate" type="application/akn+xml" href="{base}/ukpga/2014/27/enacted/data.akn"/>
<updated>2015-12-16T00:00:00Z</updated>
<ukm:DocumentMainType Value="UnitedKingdomPublicGeneralAct"/><ukm:Year Value="2014"/><ukm:Number Value="27"/>
<ukm:CreationDate Date="2014-07-17"/>
<summary>An Act about the retention of communications data and investigatory powers.</summary></entry>
<entry><id>http://www.legislation.gov.uk/id/uksi/2015/9999</id><title>The Cyber Example Regulations 2015</title>
<link rel="alternate" type="application/akn+xml" href="{base}/uksi/2015/9999/made/data.akn"/>
<ukm:DocumentMainType Value="UnitedKingdomStatutoryInstrument"/><ukm:Year Value="2015"/><ukm:Number Value="9999"/>
</entry>
</feed>""".encode()


@pytest.fixture
async def gazette(feed_file: Path, akn_dir: Path, web_server: Callable[..., Any]) -> tuple[str, dict[str, Any]]:
    """The real capture as page 1 (its links pointed at a loopback server), a page 2 with an act in AKN."""
    state: dict[str, Any] = {"pages": []}
    akn = (akn_dir / "oasis_uk_pga-2014-27-enacted-data.xml").read_bytes()

    async def page(request: web.Request) -> web.Response:
        number = request.query.get("page", "1")
        state["pages"].append(number)
        base = state["base"]
        if number == "1":
            text = feed_file.read_text(encoding="utf-8")
            text = text.replace("http://legislation.data.gov.uk", base)
            return web.Response(body=text.encode(), content_type=ATOM_TYPE)
        return web.Response(body=second_page(base, state.get("next")), content_type=ATOM_TYPE)

    async def act(request: web.Request) -> web.Response:
        return web.Response(body=akn, content_type="application/xml")

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="gone")

    base = await web_server(
        {"/all/data.feed": page, "/ukpga/2014/27/enacted/data.akn": act, "/uksi/2015/9999/made/data.akn": missing}
    )
    state["base"] = base
    return base, state


async def test_paging_and_the_akn_hand_over(gazette: tuple[str, dict[str, Any]]) -> None:
    base, state = gazette
    options = AtomOptions(match=("investigatory", "cyber"), follow_akn=True)
    report = await import_atom(f"{base}/all/data.feed?sort=published", options=options)
    assert state["pages"] == ["1", "2"]
    assert [r.record_id for r in report.records] == ["ukpga-2014-27", "uksi-2015-9999"]
    act, regulations = report.records
    record = act.record
    # the full text came from the Akoma Ntoso document …
    assert record["status"] == "repealed" and record["dates"]["repealed"] == "2016-12-31"
    assert len(record["provisions"]) == 8
    assert record["attachments"][0]["url"] == f"{base}/ukpga/2014/27/enacted/data.akn"
    # … and the feed filled in what it knows
    assert record["sources"] == [{"url": f"{base}/ukpga/2014/27/enacted", "kind": "official_text"}]
    assert record["provenance"]["connector"] == "atom+akn"
    assert validator().validate_record("law/1", record) == []
    assert "full text from" in "\n".join(str(n) for n in act.notes)
    # an AKN link that fails leaves the feed's own record, with the reason
    assert regulations.record["citation"] == "S.I. 2015/9999"
    assert "Akoma Ntoso text not used" in "\n".join(str(n) for n in regulations.notes) and "HTTP 404" in str(
        regulations.notes
    )


async def test_paging_stops_on_a_loop_and_at_max_pages(gazette: tuple[str, dict[str, Any]]) -> None:
    base, state = gazette
    state["next"] = f"{base}/all/data.feed?sort=published"
    looped = await import_atom(f"{base}/all/data.feed?sort=published", options=AtomOptions(follow_akn=False))
    assert state["pages"] == ["1", "2"] and "already read; paging stops" in notes(looped)
    assert len(looped.records) == 22
    state["pages"].clear()
    capped = await import_atom(
        f"{base}/all/data.feed?sort=published", options=AtomOptions(follow_akn=False, max_pages=1)
    )
    assert state["pages"] == ["1"] and "stopped after 1 page(s)" in notes(capped)


PLAIN = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">
<id>tag:journal-officiel.test,2026:feed</id><title>Journal officiel</title><updated>2026-11-01T00:00:00Z</updated>
<entry><id>tag:journal-officiel.test,2026:loi-2026-12</id>
<title>Loi n\xc2\xb0 2026-12 relative \xc3\xa0 la cybercriminalit\xc3\xa9</title>
<link rel="alternate" type="text/html" href="https://journal-officiel.test/loi/2026-12"/>
<updated>2026-11-01T00:00:00Z</updated><summary>Infractions informatiques et preuve \xc3\xa9lectronique.</summary>
</entry>
<entry><id>https://journal-officiel.test/decret/2026-99</id><title>D\xc3\xa9cret sur la p\xc3\xaache</title></entry>
</feed>"""


async def test_plain_atom(tmp_path: Path) -> None:
    path = tmp_path / "jo.xml"
    path.write_bytes(PLAIN)
    bare = await import_atom(str(path), options=AtomOptions(match=("cybercriminalit",)))
    assert len(bare.records) == 1 and not bare.records[0].ok
    assert "give --jurisdiction" in notes(bare, "error")
    report = await import_atom(
        str(path), options=AtomOptions(jurisdiction="SEN", document_type="act", status="in_force")
    )
    law, decree = report.records
    assert law.record["title"]["original"] == {"lang": "fr", "text": "Loi n° 2026-12 relative à la cybercriminalité"}
    assert law.record["identifiers"] == [{"scheme": "url", "value": "https://journal-officiel.test/loi/2026-12"}]
    assert law.record["status"] == "in_force" and law.record["jurisdiction"] == "SEN"
    assert law.record_id == "tag-journal-officiel.test-2026-loi-2026-12"  # from the permanent entry id
    assert decree.record["identifiers"] == [{"scheme": "url", "value": "https://journal-officiel.test/decret/2026-99"}]
    for imported in report.records:
        assert validator().validate_record("law/1", imported.record) == []


async def test_what_is_not_an_atom_feed(tmp_path: Path) -> None:
    rss = tmp_path / "feed.rss"
    rss.write_bytes(b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>')
    with pytest.raises(ImportFailure, match="not an Atom feed"):
        await import_atom(str(rss))
    with pytest.raises(ImportFailure, match="cannot read"):
        await import_atom(str(tmp_path / "absent.xml"))


async def test_an_unreachable_feed(web_server: Callable[..., Any]) -> None:
    base = await web_server({"/feed": (503, "text/plain", b"down")})
    with pytest.raises(ImportFailure, match="HTTP 503"):
        await import_atom(f"{base}/feed")


def test_shared_fixture_present() -> None:
    shared_path("data", "feeds")
