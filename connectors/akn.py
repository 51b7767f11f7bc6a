"""Akoma Ntoso (OASIS LegalDocML, AKN 3.0) to law and case records.

An ``act`` or ``bill`` becomes a **law**, a ``judgment`` a **case**. The final 3.0 namespace, the
pre-standard drafts (``…/akn/3.0/WD17`` and the like) and AKN 2.0 are read alike. What the document
does not say, or says in a way that has no place in the record, is reported as a :class:`Note`;
nothing is guessed silently. Offence, procedure and cooperation tags are never inferred: the submitter
adds them.

Mapping (law):

- ``FRBRWork/FRBRcountry`` (ISO 3166-1 alpha-2, optionally ``-locality``) → ``jurisdiction`` (alpha-3);
- ``FRBRWork/FRBRuri`` → ``identifiers`` (scheme ``akn`` for ``/akn/…``, ``eli``, ``legislation.gov.uk``,
  else ``url``), and identifier-like ``FRBRalias`` values;
- ``FRBRExpression/FRBRlanguage`` (ISO 639-2) → the BCP 47 ``lang`` of the title;
- title: ``FRBRalias[@name=title|short]``, else ``shortTitle``, else ``docTitle``; ``longTitle`` (or a
  ``docTitle`` not used as title) → ``summary``;
- citation: ``FRBRname`` when it reads like a citation, else ``docType`` + ``docNumber``, else
  "<Type> <number> of <year>" from the work URI;
- ``FRBRWork/FRBRdate`` and ``lifecycle/eventRef`` (by type, and by what ``refersTo`` names) →
  ``dates`` and ``status``; ``publication`` → ``publication`` and ``dates.published``;
- ``analysis/activeModifications`` and ``activeRef`` → ``relations`` (amends, repeals);
- ``section``, ``article`` and ``rule`` of the body (not those quoted in amendments) → ``provisions``;
- the XML itself → one ``attachments`` entry (media type and SHA-256).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors.codes import country_iso3, language_tag
from connectors.model import Imported, ImportFailure, provenance, slug
from connectors.xmlutil import Element, localise, parse, split, squash, text_of

AKN_MEDIA_TYPE = "application/akn+xml"
FINAL_NAMESPACE = "http://docs.oasis-open.org/legaldocml/ns/akn/3.0"
_DRAFT_NAMESPACE = re.compile(r"^http://docs\.oasis-open\.org/legaldocml/ns/akn/3\.0/[A-Za-z0-9]+$")
AKN2_NAMESPACE = "http://www.akomantoso.org/2.0"
LAW_DOCUMENTS = ("act", "bill")
CASE_DOCUMENTS = ("judgment", "judgement")
PROVISION_ELEMENTS = frozenset({"section", "article", "rule"})
#: Subtrees that quote another text (amendments) or annotate this one: never provisions, never text.
QUOTED = frozenset({"quotedStructure", "embeddedStructure", "quotedText", "subFlow"})
NOTES = frozenset({"authorialNote", "note", "noteRef", "footnote", "remark"})
_EID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
MAX_PROVISIONS = 2000
#: A provision's own children that are not its text.
_OWN_LABELS = NOTES | {"num", "heading", "subheading"}

ProvisionText = str  # "extract" | "full" | "none"


@dataclass(frozen=True, slots=True)
class AknOptions:
    """Choices the importer cannot make from the document alone."""

    jurisdiction: str | None = None  # override FRBRcountry
    record_id: str | None = None
    status: str | None = None  # override the status read from the lifecycle
    stage: str | None = None  # a judgment's stage, when the document does not make it clear
    provision_text: ProvisionText = "extract"
    text_limit: int = 1000  # characters of each provision kept by "extract"
    today: date | None = None


class _Doc:
    """The parsed document with the pieces every mapping reads."""

    def __init__(self, root: Element, source: str) -> None:
        namespace, local = split(root.tag)
        self.namespace = namespace
        if local != "akomaNtoso":
            raise ImportFailure(f"{source}: not an Akoma Ntoso document (root element <{local}>)")
        localise(root, [namespace])
        documents = [child for child in root if isinstance(child.tag, str) and not child.tag.startswith("{")]
        if not documents:
            raise ImportFailure(f"{source}: the <akomaNtoso> element holds no document")
        self.document = documents[0]
        self.type = self.document.tag
        self.meta = self.document.find("meta")
        if self.meta is None:
            raise ImportFailure(f"{source}: the <{self.type}> has no <meta> block")
        ident = self.meta.find("identification")
        self.work = ident.find("FRBRWork") if ident is not None else None
        self.expression = ident.find("FRBRExpression") if ident is not None else None
        self.references: dict[str, Element] = {}
        refs = self.meta.find("references")
        if refs is not None:
            for ref in refs:
                eid = ref.get("eId") or ref.get("id")
                if eid:
                    self.references[eid] = ref

    def work_value(self, name: str) -> str | None:
        element = self.work.find(name) if self.work is not None else None
        value = element.get("value") if element is not None else None
        return value.strip() if value and value.strip() else None

    def reference(self, href: str | None) -> Element | None:
        if not href:
            return None
        return self.references.get(href.strip().lstrip("#"))

    def show(self, href: str | None) -> str:
        ref = self.reference(href)
        return squash(ref.get("showAs") or "") if ref is not None else ""

    def first(self, name: str, within: Element | None = None) -> Element | None:
        """The first element called ``name`` outside <meta> and outside quoted structures."""
        for element in _walk(within if within is not None else self.document, skip=QUOTED | {"meta"}):
            if element.tag == name:
                return element
        return None


def _walk(element: Element, skip: frozenset[str]) -> list[Element]:
    out: list[Element] = []
    stack = [element]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed([c for c in node if isinstance(c.tag, str) and c.tag not in skip]))
    return out


def _date(text: str | None) -> str | None:
    match = _DATE.match(text.strip()) if text else None
    if match is None:
        return None
    try:
        date.fromisoformat(match.group(1))
    except ValueError:
        return None
    return match.group(1)


def import_akn(data: bytes, *, source: str, url: str | None = None, options: AknOptions | None = None) -> Imported:
    """Map one Akoma Ntoso document to a record. Raises :class:`ImportFailure` if it is not AKN at all."""
    options = options or AknOptions()
    doc = _Doc(parse(data, source), source)
    if doc.type in LAW_DOCUMENTS:
        imported = Imported("law", "", {}, source)
    elif doc.type in CASE_DOCUMENTS:
        imported = Imported("case", "", {}, source)
    else:
        raise ImportFailure(
            f"{source}: an Akoma Ntoso <{doc.type}> has no record kind here; "
            "acts and bills become laws, judgments become cases"
        )
    _namespace_note(doc, imported)
    if doc.work is None:
        imported.note("error", "meta/identification", "no FRBRWork: the work cannot be identified")
    mapper = _LawMapper if imported.kind == "law" else _CaseMapper
    mapper(doc, imported, options, data, url).run()
    return imported


def _namespace_note(doc: _Doc, imported: Imported) -> None:
    namespace = doc.namespace
    if namespace == FINAL_NAMESPACE:
        return
    if _DRAFT_NAMESPACE.match(namespace):
        imported.note("info", "akomaNtoso", f"pre-standard namespace {namespace} read as Akoma Ntoso 3.0")
    elif namespace == AKN2_NAMESPACE:
        imported.note("warning", "akomaNtoso", "Akoma Ntoso 2.0 namespace read as 3.0; check the result")
    elif not namespace:
        imported.note("warning", "akomaNtoso", "no namespace; read as Akoma Ntoso 3.0")
    else:
        imported.note("warning", "akomaNtoso", f"unknown namespace {namespace}; read as Akoma Ntoso 3.0")


# --- identifiers --------------------------------------------------------------------------------------

_UK_ID = re.compile(r"^https?://www\.legislation\.gov\.uk/id/([a-z]+)/([^/]+)/([^/]+)(/.*)?$")


def identifier(value: str) -> dict[str, str] | None:
    """An identifier object for a URI: its scheme, and the work-level value."""
    text = value.strip()
    if not text:
        return None
    if text.startswith("akn/"):
        text = "/" + text
    if text.startswith("/akn/"):
        return {"scheme": "akn", "value": work_uri(text)}
    uk = _UK_ID.match(text)
    if uk:
        return {"scheme": "legislation.gov.uk", "value": f"http://www.legislation.gov.uk/id/{uk[1]}/{uk[2]}/{uk[3]}"}
    if "/eli/" in text or text.startswith("eli/"):
        return {"scheme": "eli", "value": text}
    if text.lower().startswith("urn:lex:"):
        return {"scheme": "urn-lex", "value": text}
    if text.lower().startswith("ecli:"):
        return {"scheme": "ecli", "value": text}
    if re.match(r"^https?://\S+$", text):
        return {"scheme": "url", "value": text}
    return None


def work_uri(uri: str) -> str:
    """The work part of an AKN URI: no fragment, no ``/!main`` component, no ``/lang@date`` expression."""
    text = uri.split("#", 1)[0]
    text = re.sub(r"/!.*$", "", text)
    text = re.sub(r"/main$", "", text)
    text = re.sub(r"/[a-z]{3}@[^/]*$", "", text)
    text = re.sub(r"\.(xml|akn|pdf|html?)$", "", text)
    return text.rstrip("/")


def record_id_for(identifiers: list[dict[str, str]], fallback: str) -> str:
    """A stable record id from the work identifier, so that a re-import makes a new version."""
    for ident in identifiers:
        value = ident["value"]
        if ident["scheme"] == "akn":
            return slug(value.removeprefix("/akn/").replace("/", "-"))
        if ident["scheme"] == "legislation.gov.uk":
            return slug(value.split("/id/", 1)[1].replace("/", "-"))
    return slug(fallback)


# --- shared mapping -----------------------------------------------------------------------------------


class _Mapper:
    kind = ""

    def __init__(self, doc: _Doc, imported: Imported, options: AknOptions, data: bytes, url: str | None) -> None:
        self.doc = doc
        self.imported = imported
        self.record = imported.record
        self.options = options
        self.data = data
        self.url = url
        self.today = options.today or date.today()

    def note(self, level: str, where: str, message: str) -> None:
        assert level in ("info", "warning", "error")
        self.imported.note(level, where, message)  # type: ignore[arg-type]

    def jurisdiction(self) -> None:
        if self.options.jurisdiction:
            self.record["jurisdiction"] = self.options.jurisdiction.upper()
            return
        where = "meta/identification/FRBRWork/FRBRcountry"
        raw = self.doc.work_value("FRBRcountry")
        if raw is None:
            uri = self.doc.work_value("FRBRuri") or ""
            match = re.match(r"^/akn/([a-z]{2})(?:-[a-z0-9]+)?/", uri)
            if match is None:
                self.note("error", where, "no FRBRcountry: give the jurisdiction (--jurisdiction)")
                return
            raw = match.group(1)
            self.note("info", where, f'no FRBRcountry; country "{raw}" read from the work URI')
        country, _, locality = raw.partition("-")
        iso3, why = country_iso3(country)
        if iso3 is None:
            self.note("error", where, f"{why}: give the jurisdiction (--jurisdiction)")
            return
        if why:
            self.note("warning", where, why)
        self.record["jurisdiction"] = iso3
        if locality and raw.upper() not in ("GB-UKM", "GB-GBN"):
            self.note(
                "warning",
                where,
                f'locality "{locality}" of "{raw}" is not mapped: Akoma Ntoso localities are not ISO 3166-2 '
                "codes; set subdivision yourself if the law is sub-national",
            )

    def language(self) -> str:
        where = "meta/identification/FRBRExpression/FRBRlanguage"
        element = self.doc.expression.find("FRBRlanguage") if self.doc.expression is not None else None
        code = element.get("language") if element is not None else None
        if not code:
            self.note("warning", where, 'no FRBRlanguage; the text is taken to be English ("en")')
            return "en"
        tag, why = language_tag(code)
        if tag is None:
            self.note("warning", where, f'{why}; the text is taken to be English ("en")')
            return "en"
        if why:
            self.note("info", where, why)
        return tag

    def identifiers(self) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        uri = self.doc.work_value("FRBRuri")
        where = "meta/identification/FRBRWork/FRBRuri"
        if uri is None:
            self.note("warning", where, "no FRBRuri: the record has no work identifier")
        else:
            ident = identifier(uri)
            if ident is None:
                self.note("warning", where, f'"{uri}" is not a URI in a known identifier scheme; not mapped')
            else:
                if ident["value"] != uri:
                    self.note("info", where, f'work identifier "{ident["value"]}" taken from "{uri}"')
                found.append(ident)
        if self.doc.work is not None:
            for alias in self.doc.work.findall("FRBRalias"):
                value = (alias.get("value") or "").strip()
                name = (alias.get("name") or "").strip()
                ident = identifier(value) if value else None
                if ident is not None and ident not in found:
                    found.append(ident)
                    if ident["scheme"] == "eli" and not value.startswith(("http://", "https://")):
                        self.note("warning", "FRBRWork/FRBRalias", f'ELI "{value}" is not an absolute URI; check it')
                elif ident is None and name.lower() not in _TITLE_ALIASES and value:
                    self.note("info", "FRBRWork/FRBRalias", f'alias "{value}" ({name or "no name"}) not mapped')
        if found:
            self.record["identifiers"] = found
        return found

    def finish(self, fallback_id: str) -> None:
        identifiers = self.record.get("identifiers", [])
        self.imported.record_id = self.options.record_id or record_id_for(identifiers, fallback_id)
        self.record["attachments"] = [self.attachment()]
        self.record["provenance"] = provenance("akn", self.url)

    def attachment(self) -> dict[str, str]:
        value = {"media_type": AKN_MEDIA_TYPE, "sha256": hashlib.sha256(self.data).hexdigest()}
        if self.url and re.match(r"^https?://\S+$", self.url) and len(self.url) <= 2048:
            value["url"] = self.url
        else:
            name = self.imported.source.replace("\\", "/").rsplit("/", 1)[-1][:500]
            if name:
                value["filename"] = name
        return value

    def title_text(self) -> tuple[str | None, str]:
        """The best title and where it came from."""
        if self.doc.work is not None:
            for alias in self.doc.work.findall("FRBRalias"):
                if (alias.get("name") or "").strip().lower() in _TITLE_ALIASES and (alias.get("value") or "").strip():
                    return squash(alias.get("value") or ""), "FRBRWork/FRBRalias"
        for name in ("shortTitle", "docTitle"):
            found = self.doc.first(name)
            text = text_of(found, NOTES)
            if text:
                return text, name
        return None, ""


_TITLE_ALIASES = frozenset({"title", "short", "shorttitle", "short title", "short-title", "popular", "name"})


# --- law ----------------------------------------------------------------------------------------------

_DOCUMENT_TYPES = (
    ("constitution", "constitution"),
    ("statutoryinstrument", "regulation"),
    ("statutoryrule", "regulation"),
    ("regulation", "regulation"),
    ("ordinance", "ordinance"),
    ("order", "regulation"),
    ("decree", "decree"),
    ("directive", "directive"),
    ("code", "code"),
    ("bylaw", "regulation"),
    ("by-law", "regulation"),
    ("proclamation", "decree"),
    ("bill", "bill"),
    ("act", "act"),
    ("law", "act"),
    ("statute", "act"),
)
# Lifecycle meanings, read from an eventRef's type and from what its refersTo names.
_EVENT_WORDS = (
    ("repealed", ("repeal", "revocation", "revoked", "expiry", "expired", "abrogat")),
    ("entry_into_force", ("commencement", "inforce", "in force", "entryintoforce", "entry into force", "effect")),
    ("published", ("publication", "gazett")),
    ("last_amended", ("amendment", "amended")),
    ("adopted", ("enact", "assent", "adopt", "passed", "signature", "made")),
)


class _LawMapper(_Mapper):
    def run(self) -> None:
        record = self.record
        self.jurisdiction()
        lang = self.language()
        title, title_from = self.title_text()
        if title is None:
            self.note("error", "preface", "no title (FRBRalias name=title, shortTitle or docTitle)")
        else:
            record["title"] = {"original": {"lang": lang, "text": title[:100000]}}
            if title_from != "FRBRWork/FRBRalias" and title_from != "shortTitle":
                self.note("info", title_from, "no short title; the title is taken from " + title_from)
        summary = text_of(self.doc.first("longTitle"), NOTES)
        if not summary and title_from != "docTitle":
            summary = text_of(self.doc.first("docTitle"), NOTES)
        if summary and summary != title:
            record["summary"] = {"original": {"lang": lang, "text": summary[:100000]}}
        identifiers = self.identifiers()
        citation = self.citation(identifiers)
        if citation:
            record["citation"] = citation[:500]
        record["document_type"] = self.document_type()
        self.dates_and_status()
        self.relations(identifiers)
        self.provisions(lang)
        self.finish(title or "law")

    def citation(self, identifiers: list[dict[str, str]]) -> str | None:
        name = self.doc.work_value("FRBRname")
        if name and re.search(r"\d", name):
            return name
        doc_type = text_of(self.doc.first("docType"), NOTES)
        number = text_of(self.doc.first("docNumber"), NOTES)
        if doc_type and number:
            return f"{doc_type} {number}"
        work_number = self.doc.work_value("FRBRnumber")
        for ident in identifiers:
            if ident["scheme"] == "akn":
                parts = ident["value"].strip("/").split("/")
                # /akn/{cc}/{doctype}[/{subtype}[/{actor}]]/{date}/{number}
                if len(parts) >= 5:
                    year = parts[-2][:4]
                    number_part = work_number or parts[-1]
                    if year.isdigit():
                        return f"{parts[2].capitalize()} {number_part} of {year}"
        if number:
            return number
        self.note("info", "preface", "no citation found (FRBRname, docType with docNumber, or the work URI)")
        return None

    def document_type(self) -> str:
        if self.doc.type == "bill":
            return "bill"
        candidates = [self.doc.document.get("name") or "", self.doc.work_value("FRBRsubtype") or ""]
        for candidate in candidates:
            lowered = candidate.lower().replace("_", "")
            for word, value in _DOCUMENT_TYPES:
                if word in lowered:
                    return value
        shown = " / ".join(c for c in candidates if c) or "none"
        self.note("info", f"{self.doc.type}/@name", f'document type "act" assumed (name: {shown})')
        return "act"

    def event_meaning(self, event: Element) -> str | None:
        words = [event.get("type") or ""]
        ref = self.doc.reference(event.get("refersTo"))
        words.append(event.get("refersTo") or "")
        if ref is not None:
            words += [ref.get("showAs") or "", ref.get("href") or ""]
        haystack = " ".join(words).lower()
        for meaning, keys in _EVENT_WORDS:
            if any(key in haystack for key in keys):
                return meaning
        if (event.get("type") or "") == "generation":
            return "adopted"
        return None

    def dates_and_status(self) -> None:
        record = self.record
        dates: dict[str, str | None] = {}
        work_date = self.doc.work.find("FRBRdate") if self.doc.work is not None else None
        if work_date is not None and _date(work_date.get("date")):
            name = (work_date.get("name") or "").lower()
            if "publication" in name:
                dates["published"] = _date(work_date.get("date"))
            else:
                dates["adopted"] = _date(work_date.get("date"))
        publication = self.meta_child("publication")
        if publication is not None:
            value: dict[str, str] = {}
            name = squash(publication.get("showAs") or publication.get("name") or "")
            if name:
                value["name"] = name[:500]
            if (publication.get("number") or "").strip():
                value["number"] = squash(publication.get("number") or "")[:500]
            if _date(publication.get("date")):
                value["date"] = str(_date(publication.get("date")))
                dates.setdefault("published", value["date"])
            if value:
                record["publication"] = value
        commencements: list[str] = []
        lifecycle = self.meta_child("lifecycle")
        for event in lifecycle.findall("eventRef") if lifecycle is not None else []:
            when = _date(event.get("date"))
            where = f"meta/lifecycle/eventRef[@eId='{event.get('eId') or event.get('id') or '?'}']"
            if when is None:
                self.note("warning", where, f'date "{event.get("date")}" is not a calendar date; event not mapped')
                continue
            meaning = self.event_meaning(event)
            if meaning is None:
                self.note("info", where, f"event of {when} (type {event.get('type') or 'none'}) not mapped")
            elif meaning == "entry_into_force":
                commencements.append(when)
            elif meaning == "adopted":
                dates.setdefault("adopted", when)
            elif meaning == "last_amended":
                dates["last_amended"] = max(when, dates.get("last_amended") or when)
            else:
                dates.setdefault(meaning, when)
        if commencements:
            dates["entry_into_force"] = min(commencements)
            if len(set(commencements)) > 1:
                self.note(
                    "warning",
                    "meta/lifecycle",
                    f"{len(set(commencements))} commencement dates: the law commenced in parts; "
                    "entry_into_force is the first; set each provision's status if it matters",
                )
        clean = {k: v for k, v in dates.items() if v}
        if clean:
            record["dates"] = clean
        record["status"] = self.status(clean)

    def meta_child(self, name: str) -> Element | None:
        return self.doc.meta.find(name) if self.doc.meta is not None else None

    def status(self, dates: dict[str, str]) -> str:
        if self.options.status:
            return self.options.status
        if self.doc.type == "bill":
            return "draft"
        today = self.today.isoformat()
        repealed, in_force = dates.get("repealed"), dates.get("entry_into_force")
        if repealed and repealed <= today:
            return "repealed"
        if in_force and in_force > today:
            return "adopted_not_in_force"
        if in_force:
            status = "amended" if dates.get("last_amended") else "in_force"
            self.note(
                "info",
                "meta/lifecycle",
                f'status "{status}" read from the lifecycle; give --status partially_in_force if only parts commenced',
            )
            return status
        self.note(
            "warning",
            "meta/lifecycle",
            'no commencement event: status "in_force" assumed; give --status if the law is not (wholly) in force',
        )
        return "in_force"

    def relations(self, identifiers: list[dict[str, str]]) -> None:
        own = {i["value"] for i in identifiers}
        relations: dict[tuple[str, str], dict[str, Any]] = {}
        analysis = self.meta_child("analysis")
        modifications = analysis.find("activeModifications") if analysis is not None else None
        for mod in list(modifications) if modifications is not None else []:
            kind = "repeals" if (mod.get("type") or "") == "repeal" else "amends"
            for destination in mod.findall("destination"):
                href = (destination.get("href") or "").strip()
                if not href or href.startswith("#"):
                    continue
                ident = identifier(href)
                if ident is None or ident["value"] in own:
                    continue
                key = (kind, ident["value"])
                relation = relations.setdefault(key, {"type": kind, "identifier": ident})
                fragment = href.partition("#")[2]
                up_to = (destination.get("upTo") or "").partition("#")[2]
                if kind == "repeals" and fragment:
                    relation["provisions"] = f"{fragment} to {up_to}" if up_to else fragment
        refs = self.doc.meta.find("references") if self.doc.meta is not None else None
        for ref in refs.findall("activeRef") if refs is not None else []:
            ident = identifier(ref.get("href") or "")
            if ident is None or ident["value"] in own:
                continue
            if not any(value == ident["value"] for _, value in relations):
                relations[("amends", ident["value"])] = {"type": "amends", "identifier": ident}
                self.note(
                    "info",
                    f"meta/references/activeRef[@eId='{ref.get('eId') or '?'}']",
                    f'"{ref.get("showAs") or ident["value"]}" is modified by this document: mapped as "amends"',
                )
        for ref in refs.findall("passiveRef") if refs is not None else []:
            ident = identifier(ref.get("href") or "")
            if ident is not None and ident["value"] not in own:
                self.note(
                    "info",
                    f"meta/references/passiveRef[@eId='{ref.get('eId') or '?'}']",
                    f'"{ref.get("showAs") or ident["value"]}" modifies this document: a law records only '
                    "what it amends or repeals; not mapped",
                )
        if relations:
            self.record["relations"] = list(relations.values())[:200]

    def provisions(self, lang: str) -> None:
        body = self.doc.document.find("body") or self.doc.document.find("mainBody")
        if body is None:
            self.note("warning", self.doc.type, "no <body>: no provisions")
            return
        ordered = _top_provisions(body)
        mapped = [p for p in (self.provision(e) for e in ordered) if p is not None]
        if not mapped:
            self.note("warning", "body", "no sections, articles or rules found: no provisions")
            return
        if len(mapped) > MAX_PROVISIONS:
            self.note("warning", "body", f"{len(mapped)} provisions; the first {MAX_PROVISIONS} are kept")
            mapped = mapped[:MAX_PROVISIONS]
        self.record["provisions"] = mapped
        self.note(
            "info",
            "body",
            f"{len(mapped)} provision(s) mapped without offence, procedure or cooperation tags: add them "
            "(and convention article references) before submitting",
        )

    def provision(self, element: Element) -> dict[str, Any] | None:
        eid = element.get("eId") or element.get("id") or ""
        where = f"body//{element.tag}[@eId='{eid}']" if eid else f"body//{element.tag}"
        if element.get("status") == "editorial":
            self.note("info", where, "editorial matter (status=editorial) left out")
            return None
        num = text_of(element.find("num"), NOTES).rstrip(".").strip()
        if not num and eid:
            match = re.search(r"_([0-9]+[A-Za-z]*)$", eid)
            num = match.group(1) if match else ""
        if not num:
            self.note("warning", where, "no <num>: provision left out")
            return None
        provision: dict[str, Any] = {}
        if eid and _EID.match(eid) and len(eid) <= 200:
            provision["eid"] = eid
        elif eid:
            self.note("info", where, f'eId "{eid}" is not a valid element id; not mapped')
        provision["num"] = num[:50]
        heading = text_of(element.find("heading"), NOTES)
        if heading:
            provision["heading"] = heading[:1000]
        if element.get("status") in ("repealed", "removed"):
            provision["status"] = "repealed"
        mode = self.options.provision_text
        if mode != "none":
            parts = [text_of(c, NOTES) for c in element if isinstance(c.tag, str) and c.tag not in _OWN_LABELS]
            text = squash(" ".join(parts))
            if text:
                limit = self.options.text_limit if mode == "extract" else 100000
                provision["text"] = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
        return provision


def _top_provisions(element: Element) -> list[Element]:
    """Sections, articles and rules in document order, not those within another or within a quotation."""
    found: list[Element] = []
    for child in element:
        if not isinstance(child.tag, str) or child.tag in QUOTED or child.tag.startswith("{"):
            continue
        if child.tag in PROVISION_ELEMENTS:
            found.append(child)
        else:
            found.extend(_top_provisions(child))
    return found


# --- case ---------------------------------------------------------------------------------------------

_STAGES = (
    ("constitutional", "constitutional_review"),
    ("appeal", "appeal"),
    ("cassation", "final_appeal"),
    ("supreme", "final_appeal"),
    ("magistrate", "first_instance"),
    ("district", "first_instance"),
    ("high court", "first_instance"),
    ("tribunal", "first_instance"),
)


class _CaseMapper(_Mapper):
    def run(self) -> None:
        record = self.record
        record["case_type"] = "court_decision"
        self.jurisdiction()
        lang = self.language()
        title = text_of(self.doc.first("docTitle"), NOTES)
        if not title:
            parties = [text_of(p, NOTES) for p in _walk(self.doc.document, QUOTED) if p.tag == "party"]
            title = " v ".join(p for p in parties if p)
            if title:
                self.note("info", "header", "no docTitle; the case name is made of the parties")
        if title:
            record["title"] = {"original": {"lang": lang, "text": title[:100000]}}
        else:
            self.note("error", "header", "no case name (docTitle or parties)")
        court = text_of(self.doc.first("docProponent"), NOTES) or self.court_from_author()
        if court:
            record["court"] = {"original": {"lang": lang, "text": court[:100000]}}
        else:
            self.note("error", "header/docProponent", "no court (docProponent or the FRBRauthor reference)")
        number = text_of(self.doc.first("docNumber"), NOTES)
        if number:
            record["case_number"] = number[:500]
        citation = text_of(self.doc.first("neutralCitation"), NOTES)
        if citation:
            record["citation"] = citation[:500]
        self.identifiers()
        decided = self.decision_date()
        if decided:
            record["decision_date"] = decided
        else:
            self.note("error", "meta", "no decision date (docDate, FRBRExpression FRBRdate or lifecycle)")
        record["stage"] = self.stage(court)
        outcome = text_of(self.doc.first("decision"), NOTES | {"num"})
        if outcome:
            record["outcome"] = {"original": {"lang": lang, "text": outcome[:100000]}}
        facts = text_of(self.doc.first("background"), NOTES | {"num"})
        if facts:
            record["facts"] = {"original": {"lang": lang, "text": _clip(facts, 5000)}}
            if len(facts) > 5000:
                self.note("info", "judgmentBody/background", "background shortened to 5000 characters for facts")
        keywords = self.keywords()
        if keywords:
            record["keywords"] = keywords
        self.unmapped()
        self.finish(title or "case")

    def court_from_author(self) -> str:
        author = self.doc.work.find("FRBRauthor") if self.doc.work is not None else None
        return self.doc.show(author.get("href")) if author is not None else ""

    def decision_date(self) -> str | None:
        doc_date = self.doc.first("docDate")
        if doc_date is not None and _date(doc_date.get("date")):
            return _date(doc_date.get("date"))
        expression_date = self.doc.expression.find("FRBRdate") if self.doc.expression is not None else None
        if expression_date is not None and _date(expression_date.get("date")):
            return _date(expression_date.get("date"))
        lifecycle = self.doc.meta.find("lifecycle") if self.doc.meta is not None else None
        events = lifecycle.findall("eventRef") if lifecycle is not None else []
        dates = [d for d in (_date(e.get("date")) for e in events) if d]
        return max(dates) if dates else None

    def stage(self, court: str) -> str:
        if self.options.stage:
            return self.options.stage
        header = text_of(self.doc.document.find("header"), NOTES).lower()
        lowered = court.lower()
        for word, stage in _STAGES:
            if word in lowered:
                return stage
        if "on appeal from" in header or "appellant" in header:
            return "appeal"
        self.note("warning", "header", 'the stage is not clear: "first_instance" assumed; give --stage')
        return "first_instance"

    def keywords(self) -> list[str]:
        classification = self.doc.meta.find("classification") if self.doc.meta is not None else None
        found: list[str] = []
        for keyword in classification.findall("keyword") if classification is not None else []:
            text = squash(keyword.get("showAs") or keyword.get("value") or "")[:100]
            if text and text not in found:
                found.append(text)
        return found[:50]

    def unmapped(self) -> None:
        meta = self.doc.meta
        analysis = meta.find("analysis") if meta is not None else None
        judicial = analysis.find("judicial") if analysis is not None else None
        if judicial is not None:
            result = judicial.find("result")
            if result is not None:
                self.note(
                    "info",
                    "meta/analysis/judicial/result",
                    f'result "{result.get("type")}" is not mapped: charges and their outcomes are left to the '
                    "submitter; the decision's text is in outcome",
                )
            cited = [c for c in judicial if c.tag != "result"]
            if cited:
                self.note(
                    "info",
                    "meta/analysis/judicial",
                    f"{len(cited)} judicial reference(s) ({', '.join(sorted({c.tag for c in cited}))}) to other "
                    "decisions not mapped",
                )
        parties = [p for p in _walk(self.doc.document, QUOTED) if p.tag == "party"]
        if parties:
            self.note(
                "info",
                "header/party",
                f"{len(parties)} part(ies) not mapped: defendants are only recorded for criminal cases; add them",
            )
        judges = {p.get("refersTo") for p in _walk(self.doc.document, QUOTED) if p.tag == "judge"}
        if judges:
            self.note("info", "header/judge", f"{len(judges)} judge(s) not mapped: the record has no place for them")
        self.note(
            "info",
            "judgment",
            "no offence categories or charges inferred: add them before submitting",
        )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
