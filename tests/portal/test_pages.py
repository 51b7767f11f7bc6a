"""Every portal route over HTTP against a real service: status, content, escaping, languages, headers."""

from __future__ import annotations

import re

from defusedxml import ElementTree as ET

from tests.portal.conftest import Loaded
from tests.support import examples


async def page(loaded: Loaded, path: str, status: int = 200, **headers: str) -> str:
    response = await loaded.service.client.get(path, headers=headers)
    text = await response.text()
    assert response.status == status, (path, response.status, text[:500])
    assert response.headers["Content-Type"].startswith("text/html")
    return text


async def test_every_public_page_answers(loaded: Loaded) -> None:
    for path, expected in (
        ("/", "Cybercrime laws, case law and lessons learned"),
        ("/search?q=computer", "Computer Misuse Act 1990"),
        ("/search?kind=law&country=ZAF", "Cybercrimes Act, 2020"),
        ("/records/GBR/law/gbr-computer-misuse-act-1990", "Provenance of version 1"),
        ("/records/GBR/law/gbr-computer-misuse-act-1990/versions/1", "Unauthorised access to computer material"),
        ("/countries", "South Africa"),
        ("/countries/ZAF", "Cybercrimes Act, 2020"),
        ("/instruments", "Convention on Cybercrime"),
        ("/instruments/inst.coe.ets185", "Illegal access"),
        ("/instruments/inst.coe.ets185/articles/2", "South Africa"),
        ("/changes", "version 1"),
        ("/log", "Transparency log"),
        ("/records/KEN/need/ken-electronic-evidence-training-2024", "Training for prosecutors and judges"),
        ("/coordination?jurisdiction=KEN", "Workshops on electronic evidence for prosecutors and magistrates"),
        ("/coordination", "Coordination of technical assistance"),
        ("/report", "Records added and updated"),
        ("/report?from=2000-01-01&to=2000-12-31", "Nothing was added in this period."),
    ):
        assert expected in await page(loaded, path), path


async def test_hostile_record_content_renders_as_text(loaded: Loaded) -> None:
    signer = loaded.signers["GBR"]
    record = {
        "jurisdiction": "GBR",
        "title": {"original": {"lang": "en", "text": '<script>alert("x")</script> Act & "Order"'}},
        "document_type": "act",
        "status": "in_force",
        "provisions": [{"num": "<b>1</b>", "heading": "<img src=x onerror=alert(1)>", "offence_categories": []}],
        "sources": [{"url": "https://example.org/?a=<x>", "title": "javascript:alert(1)"}],
    }
    verdict = await loaded.service.submit_and_wait(signer.submission(record, record_id="hostile"))
    assert verdict["status"] == "accepted", verdict
    for path in ("/records/GBR/law/hostile", "/search?q=script", "/", "/changes", "/countries/GBR"):
        html = await page(loaded, path)
        assert "<script>" not in html and "<img" not in html and "<b>1</b>" not in html, path
    html = await page(loaded, "/records/GBR/law/hostile")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Act &amp; &#34;Order&#34;" in html
    atom = await (await loaded.service.client.get("/changes.atom")).text()
    assert "<script>" not in atom and "&lt;script&gt;" in atom


async def test_language_is_chosen_by_query_cookie_and_accept_language(loaded: Loaded) -> None:
    arabic = await page(loaded, "/?lang=ar")
    assert re.search(r'<html lang="ar" dir="rtl">', arabic)
    # the choice is remembered in a cookie for the next page
    client = loaded.service.client
    assert client.session.cookie_jar.filter_cookies(client.make_url("/"))["lang"].value == "ar"
    assert 'dir="rtl"' in await page(loaded, "/search")
    client.session.cookie_jar.clear()
    french = await page(loaded, "/countries/ZAF", **{"Accept-Language": "de;q=1, fr-CH;q=0.9, en;q=0.5"})
    assert '<html lang="fr" dir="ltr">' in french
    assert "Afrique du Sud" in french
    chinese = await page(loaded, "/?lang=zh")
    assert '<html lang="zh-Hans" dir="ltr">' in chinese
    client.session.cookie_jar.clear()
    assert '<html lang="en" dir="ltr">' in await page(loaded, "/?lang=xx", **{"Accept-Language": "de"})


async def test_interface_strings_are_translated(loaded: Loaded) -> None:
    for lang, word in (("fr", "Rechercher"), ("es", "Buscar"), ("ru", "Поиск"), ("ar", "بحث"), ("zh", "搜索")):
        html = await page(loaded, f"/search?lang={lang}")
        assert word in html, lang


async def test_pages_carry_the_security_headers_and_the_api_keeps_its_own(loaded: Loaded) -> None:
    response = await loaded.service.client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    api = await loaded.service.client.get("/v1/records")
    assert "Content-Security-Policy" not in api.headers
    css = await loaded.service.client.get("/static/portal.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")


async def test_unknown_pages_are_html_404s_and_api_404s_stay_problems(loaded: Loaded) -> None:
    for path in (
        "/nowhere",
        "/records/GBR/law/never",
        "/records/GBR/poem/x",
        "/records/GBR/law/gbr-computer-misuse-act-1990/versions/9",
        "/records/GBR/law/gbr-computer-misuse-act-1990/versions/x",
        "/countries/XYZ",
        "/instruments/inst.nowhere",
        "/instruments/inst.coe.ets185/articles/999",
    ):
        html = await page(loaded, path, status=404)
        assert "Page not found" in html, path
    api = await loaded.service.client.get("/v1/records/GBR/law/never")
    assert api.status == 404 and api.headers["Content-Type"] == "application/problem+json"


async def test_search_filters_facets_and_pages(loaded: Loaded) -> None:
    html = await page(loaded, "/search?kind=law")
    found = int(re.search(r"(\d+) records? found", html).group(1))  # type: ignore[union-attr]
    assert found >= 4
    assert 'href="/search?kind=law&amp;country=ZAF"' in html  # a facet keeps the other filters
    narrowed = await page(loaded, "/search?kind=law&country=ZAF")
    zaf_laws = sum(1 for kind, _, r in examples() if kind == "law" and r["jurisdiction"] == "ZAF")
    assert f"{zaf_laws} records found" in narrowed and "Cybercrimes Act, 2020" in narrowed
    ignored = await page(loaded, "/search?country=zz%00&tag=%3Cx%3E&page=-4")
    assert "Some filters were not understood" in ignored
    by_article = await page(loaded, "/search?instrument=inst.coe.ets185&article=2")
    assert "Cybercrimes Act, 2020" in by_article and "Budapest Convention" in by_article
    empty = await page(loaded, "/search?q=nosuchwordanywhere")
    assert "0 records found" in empty


async def test_a_diff_between_two_versions(loaded: Loaded) -> None:
    signer = loaded.signers["GBR"]
    record = {
        "jurisdiction": "GBR",
        "title": {"original": {"lang": "en", "text": "Diffed Act"}},
        "document_type": "act",
        "status": "draft",
    }
    for status in ("draft", "in_force"):
        verdict = await loaded.service.submit_and_wait(
            signer.submission({**record, "status": status}, record_id="diffed")
        )
        assert verdict["status"] == "accepted"
    html = await page(loaded, "/records/GBR/law/diffed?from=1&to=2")
    assert '<span class="removed">-   &#34;status&#34;: &#34;draft&#34;' in html
    assert '<span class="added">+   &#34;status&#34;: &#34;in_force&#34;' in html
    assert "Changes from version 1 to version 2" in await page(loaded, "/records/GBR/law/diffed?from=1&to=2")
    assert "Changes from" not in await page(loaded, "/records/GBR/law/diffed?from=1&to=7")


async def test_the_atom_feed_parses_and_filters(loaded: Loaded) -> None:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    response = await loaded.service.client.get("/changes.atom")
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(await response.read())
    entries = feed.findall("a:entry", ns)
    assert entries and all(e.find("a:link", ns) is not None for e in entries)
    zaf = ET.fromstring(await (await loaded.service.client.get("/changes.atom?jurisdiction=ZAF")).read())
    titles = [e.findtext("a:title", namespaces=ns) for e in zaf.findall("a:entry", ns)]
    assert titles and all("ZAF" in (e.findtext("a:summary", namespaces=ns) or "") for e in zaf.findall("a:entry", ns))


async def test_coverage_pages_draw_the_heatmap_with_a_table_beside_it(loaded: Loaded) -> None:
    html = await page(loaded, "/coverage?instrument=inst.coe.ets185")
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="heatmap"' in html
    assert 'role="img"' in html and 'class="hm-covered"' in html and 'class="hm-partial"' in html
    assert '<table class="coverage-table">' in html and 'href="/countries/ZAF"' in html
    africa = await page(loaded, "/coverage?instrument=inst.coe.ets185&region=002")
    assert 'href="/countries/ZAF"' in africa and 'href="/countries/GBR"' not in africa
    # as of an early feed position only the first laws count
    early = await page(loaded, "/coverage?instrument=inst.coe.ets185&as_of=1")
    assert early.count('href="/countries/') < html.count('href="/countries/')
    france = await page(loaded, "/countries/FRA") if "FRA" in loaded.signers else ""
    assert not france or "ratified 2006-01-10" in france
    country = await page(loaded, "/countries/ZAF")
    assert "No treaty status is recorded here for this State." in country
    assert '<tr class="partial">' in country and "Unlawful" not in country.split('id="coverage-h"')[0][-10:]
    instrument = await page(loaded, "/instruments/inst.un.uncc2024")
    assert 'class="heatmap"' in instrument
    home = await page(loaded, "/")
    assert "Coverage of the UN Convention against Cybercrime, by region" in home


async def test_control_characters_in_a_page_address_never_reach_the_database(loaded: Loaded) -> None:
    assert "records found" in await page(loaded, "/search?q=computer%00misuse")
    for path in ("/records/GBR/law/x%00", "/countries/GB%00", "/instruments/x%00"):
        assert "Page not found" in await page(loaded, path, status=404), path
