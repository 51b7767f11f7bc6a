"""Atom feeds (RFC 4287) to draft law submissions: the legislation.gov.uk profile first, plain Atom second.

Paging follows ``link rel="next"`` (RFC 5005) when the feed was fetched from a URL. Entries are kept
when any of the ``match`` words occurs in their title, summary or subjects. Where an entry links an
Akoma Ntoso manifestation (``type="application/akn+xml"``) the full text is fetched and handed to the
AKN importer; the feed's own metadata then fills what the AKN document left out.

legislation.gov.uk profile: entry ``id`` (``/id/{type}/{year}/{number}``) → identifier (scheme
``legislation.gov.uk``) and record id; ``ukm:DocumentMainType`` → document type, status (drafts) and
subdivision (Scottish, Welsh, Northern Ireland legislation); ``ukm:Year``/``ukm:Number`` → citation;
``ukm:CreationDate`` → ``dates.adopted``; ``ukm:Supersedes`` → relation ``supersedes``; the HTML link →
``sources``. Plain Atom: ``id`` or the alternate link → identifier, ``title``/``summary`` → title and
summary in the feed's ``xml:lang``; jurisdiction and document type come from the options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp

from connectors.akn import AKN_MEDIA_TYPE, AknOptions, import_akn, record_id_for
from connectors.codes import language_tag
from connectors.model import Imported, ImportFailure, ImportReport, Note, provenance
from connectors.sources import Loaded, fetch, is_url, load
from connectors.xmlutil import Element, parse, split, text_of

ATOM = "http://www.w3.org/2005/Atom"
UKM = "http://www.legislation.gov.uk/namespaces/metadata"
LEG = "http://www.legislation.gov.uk/namespaces/legislation"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_UK_ID = re.compile(r"^https?://www\.legislation\.gov\.uk/id/([a-z]+)/([^/]+)/([^/]+)")

#: legislation.gov.uk type codes → how a citation is written ({year}, {number}).
_UK_CITATIONS = {
    "ukpga": "{year} c. {number}",
    "ukla": "{year} c. {number}",
    "asp": "{year} asp {number}",
    "anaw": "{year} anaw {number}",
    "asc": "{year} asc {number}",
    "mwa": "{year} nawm {number}",
    "nia": "{year} c. {number} (N.I.)",
    "uksi": "S.I. {year}/{number}",
    "wsi": "S.I. {year}/{number}",
    "ssi": "S.S.I. {year}/{number}",
    "nisr": "S.R. {year} No. {number}",
    "nisi": "S.I. {year}/{number} (N.I.)",
    "ukci": "{year} No. {number}",
    "ukcm": "{year} No. {number}",
}


@dataclass(frozen=True, slots=True)
class AtomOptions:
    match: tuple[str, ...] = ()  # keep entries with any of these words (all entries when empty)
    jurisdiction: str | None = None  # plain Atom: the country of the feed's laws
    lang: str | None = None  # plain Atom without xml:lang
    document_type: str | None = None
    status: str | None = None
    max_pages: int = 10
    follow_akn: bool = True
    akn: AknOptions = field(default_factory=AknOptions)


@dataclass(slots=True)
class Entry:
    id: str
    title: str
    summary: str
    lang: str | None
    updated: str | None
    links: list[dict[str, str]]
    categories: list[str]
    ukm: dict[str, Element]
    supersedes: list[str]

    def link(self, media_type: str) -> str | None:
        for link in self.links:
            if link.get("type") == media_type and link.get("rel", "alternate") == "alternate":
                return link.get("href")
        return None

    def html(self) -> str | None:
        for link in self.links:
            if link.get("rel", "alternate") == "alternate" and link.get("type", "text/html") in (
                "text/html",
                "application/xhtml+xml",
            ):
                href = link.get("href")
                if href and not href.endswith("/data.htm"):
                    return href
        return None

    def text(self) -> str:
        return " ".join([self.title, self.summary, *self.categories]).lower()


def _atom(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def parse_feed(data: bytes, source: str, base: str | None) -> tuple[list[Entry], str | None, bool, str | None]:
    """(entries, next page URL, is the legislation.gov.uk profile, feed language)."""
    root = parse(data, source)
    namespace, local = split(root.tag)
    if local == "rss" or namespace != ATOM or local != "feed":
        raise ImportFailure(f"{source}: not an Atom feed (root element <{local}>)")
    feed_lang = root.get(XML_LANG)
    uk = any(split(e.tag)[0] in (UKM, LEG) for e in root.iter() if isinstance(e.tag, str))
    next_url = None
    for link in root.findall(_atom("link")):
        if link.get("rel") == "next" and link.get("href"):
            next_url = urljoin(base or "", link.get("href") or "")
    entries: list[Entry] = []
    for element in root.findall(_atom("entry")):
        links = []
        for link in element.findall(_atom("link")):
            item = {k: v for k, v in link.attrib.items() if k in ("rel", "type", "href", "title")}
            if "href" in item:
                item["href"] = urljoin(base or "", item["href"])
                links.append(item)
        ukm = {split(child.tag)[1]: child for child in element if split(child.tag)[0] == UKM}
        supersedes = [c.get("URI") or "" for c in element if split(c.tag) == (UKM, "Supersedes") and c.get("URI")]
        categories = [c.get("term") or "" for c in element.findall(_atom("category")) if c.get("term")]
        entries.append(
            Entry(
                id=text_of(element.find(_atom("id"))),
                title=text_of(element.find(_atom("title"))),
                summary=text_of(element.find(_atom("summary"))) or text_of(element.find(_atom("content"))),
                lang=element.get(XML_LANG) or feed_lang,
                updated=text_of(element.find(_atom("updated"))) or None,
                links=links,
                categories=categories,
                ukm=ukm,
                supersedes=supersedes,
            )
        )
    return entries, next_url, uk, feed_lang


async def import_atom(
    location: str, *, options: AtomOptions | None = None, session: aiohttp.ClientSession | None = None
) -> ImportReport:
    """Read a feed (and its further pages), keep the entries that match, and prepare their law records."""
    options = options or AtomOptions()
    own = session is None
    session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    report = ImportReport(location)
    try:
        await _import(location, options, session, report)
    finally:
        if own:
            await session.close()
    return report


async def _import(location: str, options: AtomOptions, session: aiohttp.ClientSession, report: ImportReport) -> None:
    words = [w.strip().lower() for w in options.match if w.strip()]
    loaded: Loaded | None = await load(location, session, accept="application/atom+xml, application/xml")
    seen_pages: set[str] = set()
    seen_entries: set[str] = set()
    pages = 0
    while loaded is not None:
        pages += 1
        page_url = loaded.url
        entries, next_url, uk, _ = parse_feed(loaded.data, loaded.label, page_url)
        for entry in entries:
            key = entry.id or entry.title
            if key in seen_entries:
                continue
            seen_entries.add(key)
            if words and not any(w in entry.text() for w in words):
                continue
            report.records.append(await _record(entry, uk, page_url, options, session))
        loaded = None
        if next_url:
            if page_url is None:
                report.note(
                    "info",
                    f"page {pages}",
                    f"the feed has more pages ({next_url}); read it from its URL to follow them",
                )
            elif next_url in seen_pages or next_url == page_url:
                report.note("warning", f"page {pages}", f"the next page {next_url} was already read; paging stops")
            elif pages >= options.max_pages:
                report.note("info", f"page {pages}", f"stopped after {pages} page(s) (--max-pages); next: {next_url}")
            else:
                seen_pages.add(page_url)
                loaded = await fetch(next_url, session, accept="application/atom+xml, application/xml")
    report.note("info", "", f"{pages} page(s), {len(seen_entries)} entries, {len(report.records)} matched")


async def _record(
    entry: Entry, uk: bool, page_url: str | None, options: AtomOptions, session: aiohttp.ClientSession
) -> Imported:
    base = _from_entry(entry, uk, page_url, options)
    akn_url = entry.link(AKN_MEDIA_TYPE)
    if not (akn_url and options.follow_akn and is_url(akn_url)):
        return base
    try:
        loaded = await fetch(akn_url, session, accept=AKN_MEDIA_TYPE)
        full = import_akn(loaded.data, source=akn_url, url=loaded.url or akn_url, options=options.akn)
    except ImportFailure as exc:
        base.note("warning", akn_url, f"Akoma Ntoso text not used: {exc}")
        return base
    return _merge(full, base)


def _uk_fields(entry: Entry, record: dict[str, Any], imported: Imported) -> None:
    main_type = _ukm_value(entry, "DocumentMainType")
    record["document_type"] = _uk_document_type(main_type)
    if "Draft" in main_type:
        record["status"] = "draft"
    for prefix, code in (("Scottish", "GB-SCT"), ("Welsh", "GB-WLS"), ("NorthernIreland", "GB-NIR")):
        if main_type.startswith(prefix):
            record["subdivision"] = code
    match = _UK_ID.match(entry.id)
    year = _ukm_value(entry, "Year") or (match[2] if match else "")
    number = _ukm_value(entry, "Number") or (match[3] if match else "")
    if match and year and number:
        pattern = _UK_CITATIONS.get(match[1], "{year}/{number}")
        record["citation"] = pattern.format(year=year, number=number)
    created = entry.ukm.get("CreationDate")
    if created is not None and re.match(r"^\d{4}-\d{2}-\d{2}$", created.get("Date") or ""):
        record["dates"] = {"adopted": created.get("Date")}
    relations = [
        {"type": "supersedes", "identifier": {"scheme": "legislation.gov.uk", "value": uri}}
        for uri in entry.supersedes
        if _UK_ID.match(uri)
    ]
    if relations:
        record["relations"] = relations
    unmapped = [name for name in ("ISBN", "Subject") if name in entry.ukm]
    if unmapped or entry.categories:
        imported.note("info", "entry", f"not mapped (no place in a law record): {', '.join(unmapped or ['category'])}")


def _ukm_value(entry: Entry, name: str) -> str:
    element = entry.ukm.get(name)
    return (element.get("Value") or "").strip() if element is not None else ""


def _uk_document_type(main_type: str) -> str:
    lowered = main_type.lower()
    if "act" in lowered or "measure" in lowered:
        return "act"
    return "regulation"


def _from_entry(entry: Entry, uk: bool, page_url: str | None, options: AtomOptions) -> Imported:
    where = f"entry {entry.id or entry.title}"
    imported = Imported("law", "", {}, where)
    record = imported.record
    jurisdiction = options.jurisdiction or ("GBR" if uk else None)
    if jurisdiction:
        record["jurisdiction"] = jurisdiction.upper()
    else:
        imported.note("error", "feed", "a plain Atom feed does not name its country: give --jurisdiction")
    lang = options.lang or (entry.lang and language_tag(entry.lang)[0]) or ("en" if uk else None)
    if lang is None:
        imported.note("warning", "feed", 'no xml:lang: the titles are taken to be English ("en"); give --lang')
        lang = "en"
    if entry.title:
        record["title"] = {"original": {"lang": lang, "text": entry.title[:100000]}}
    else:
        imported.note("error", "entry/title", "no title")
    if entry.summary:
        record["summary"] = {"original": {"lang": lang, "text": entry.summary[:100000]}}
    ident = None
    uk_id = _UK_ID.match(entry.id)
    if uk_id:
        ident = {"scheme": "legislation.gov.uk", "value": uk_id[0]}
    elif re.match(r"^https?://\S+$", entry.id):
        ident = {"scheme": "url", "value": entry.id}
    elif entry.html():
        ident = {"scheme": "url", "value": str(entry.html())}
    if ident:
        record["identifiers"] = [ident]
    elif entry.id:
        imported.note("info", "entry/id", f'id "{entry.id}" is not a URL; kept only in the record id')
    if uk:
        _uk_fields(entry, record, imported)
    else:
        record["document_type"] = options.document_type or "act"
        if not options.document_type:
            imported.note("warning", "entry", 'document type "act" assumed; give --document-type')
    if options.document_type:
        record["document_type"] = options.document_type
    if options.status:
        record["status"] = options.status
    elif "status" not in record:
        record["status"] = "adopted_not_in_force"
        imported.note(
            "warning",
            "entry",
            'the feed does not say whether the law is in force: status "adopted_not_in_force" set; review it '
            "or give --status",
        )
    html = entry.html()
    if html and re.match(r"^https?://\S+$", html) and len(html) <= 2048:
        record["sources"] = [{"url": html, "kind": "official_text"}]
    record["provenance"] = provenance("atom", page_url)
    imported.record_id = options.akn.record_id or record_id_for(record.get("identifiers", []), entry.id or entry.title)
    return imported


def _merge(full: Imported, feed: Imported) -> Imported:
    """The AKN record, completed by what the feed knows and the AKN document did not say."""
    record = full.record
    for name in ("summary", "citation", "sources", "subdivision"):
        if name in feed.record and name not in record:
            record[name] = feed.record[name]
    identifiers = record.setdefault("identifiers", [])
    for ident in feed.record.get("identifiers", []):
        if ident not in identifiers:
            identifiers.append(ident)
    if feed.record.get("relations"):
        record.setdefault("relations", []).extend(feed.record["relations"])
    record["provenance"] = {**record.get("provenance", {}), "connector": "atom+akn"}
    full.record_id = feed.record_id or full.record_id
    full.source = feed.source
    full.notes = [
        *[n for n in feed.notes if n.level != "warning" or "in force" not in n.message],
        Note("info", "entry", f"full text from {full.record.get('attachments', [{}])[0].get('url', 'the AKN link')}"),
        *full.notes,
    ]
    return full
