"""CSV (spreadsheet) to law records, after the template of ``docs/csv-template.md``.

One row per law; optional provision rows (``row_type`` = ``provision``) follow their law. Every cell is
checked with the repository's own validator (schemas, vocabularies, countries) and each problem is
reported with its line and column (``line 4, column P (status)``). The columns of the seed file that
national teams already keep (``iso3``, ``doc_type``, ``offences`` …) are accepted as aliases.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.model import Imported, ImportFailure, ImportReport, Note, provenance, slug
from exchange.identifiers import is_record_id
from exchange.validation import ParticipantScope

#: Template column → accepted aliases (case-insensitive; spaces and hyphens read as underscores).
COLUMNS: dict[str, tuple[str, ...]] = {
    "row_type": (),
    "record_id": ("id",),
    "jurisdiction": ("iso3", "country"),
    "subdivision": (),
    "lang": ("language",),
    "title_original": ("title",),
    "translations_official": (),
    "summary": ("long_title",),
    "citation": (),
    "document_type": ("doc_type", "type"),
    "legal_system": (),
    "status": (),
    "date_adopted": ("adopted",),
    "date_published": ("published",),
    "date_entry_into_force": ("in_force_from", "entry_into_force"),
    "date_last_amended": ("last_amended",),
    "date_repealed": ("repealed",),
    "publication_name": ("gazette",),
    "publication_number": ("gazette_number",),
    "publication_date": ("gazette_date",),
    "identifier_scheme": (),
    "identifier": (),
    "identifiers": (),
    "url": ("source_url",),
    "source_kind": (),
    "offence_categories": ("offences",),
    "procedural_powers": ("procedural",),
    "cooperation_mechanisms": ("cooperation",),
    "ancillary_and_jurisdiction": ("ancillary",),
    "instruments_implemented": ("instruments",),
    "provision_num": ("num",),
    "provision_eid": ("eid",),
    "provision_heading": ("heading",),
    "provision_text": ("text",),
    "provision_lang": (),
    "provision_status": (),
    "provision_in_force_from": (),
    "instrument_refs": (),
}
#: Columns of common national spreadsheets that carry no record field: skipped with a note.
IGNORED = {
    "submitter": "the submitter is the signing participant",
    "year": "the year is part of the dates and the citation",
    "verification": "working notes are not part of the record",
    "expression": "expression URIs are not stored; the work identifier is",
    "provisions": "free-text provision lists are not imported; give one provision row per provision",
    "notes": "working notes are not part of the record",
}
TERM_COLUMNS = ("offence_categories", "procedural_powers", "cooperation_mechanisms", "ancillary_and_jurisdiction")
REQUIRED = ("jurisdiction", "title_original", "lang", "document_type", "status")
_TITLE_LANG = re.compile(r"^title_([a-z]{2,3}(?:-[a-z0-9]{2,8})*)$")
_SPLIT = re.compile(r"[;|\n]")
_TRUE = {"yes", "y", "true", "1", "official", "x"}
_FALSE = {"no", "n", "false", "0", ""}


#: Where a missing required member is reported: pointer → column.
_CELLS = (
    ("/jurisdiction", "jurisdiction"),
    ("/title", "title_original"),
    ("/document_type", "document_type"),
    ("/status", "status"),
)


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(slots=True)
class _Law:
    imported: Imported
    line: int
    cells: dict[str, tuple[int, int]] = field(default_factory=dict)  # pointer → (line, column index)


class _Sheet:
    def __init__(self, headers: list[str], report: ImportReport) -> None:
        self.headers = headers
        self.report = report
        self.index: dict[str, int] = {}
        self.titles: dict[int, str] = {}  # column index → BCP 47 tag of a title_<lang> column
        canonical = {name: name for name in COLUMNS}
        for name, aliases in COLUMNS.items():
            for alias in aliases:
                canonical[alias] = name
        for position, raw in enumerate(headers):
            key = re.sub(r"[\s-]+", "_", raw.strip().lower())
            where = f"line 1, column {column_letter(position)} ({raw.strip() or 'empty'})"
            if key in canonical and canonical[key] not in self.index:
                self.index[canonical[key]] = position
            elif _TITLE_LANG.match(key) and key != "title_original":
                self.titles[position] = key.removeprefix("title_")
            elif key in IGNORED:
                report.note("info", where, f"column not imported: {IGNORED[key]}")
            elif key:
                report.note("warning", where, "not a column of the template; ignored")
        for name in REQUIRED:
            if name not in self.index:
                report.note("error", "line 1", f'the column "{name}" is missing (see docs/csv-template.md)')

    def where(self, line: int, column: str | int) -> str:
        position = column if isinstance(column, int) else self.index.get(column)
        if position is None:
            return f"line {line}"
        return f"line {line}, column {column_letter(position)} ({self.headers[position].strip()})"


def import_csv(
    data: bytes,
    *,
    source: str,
    scope: ParticipantScope | None = None,
    today: date | None = None,
) -> ImportReport:
    """Read a CSV file of laws; every record is checked against the packaged schemas (and ``scope``)."""
    from connectors.local import validator

    report = ImportReport(source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailure(f"{source}: not UTF-8 (byte {exc.start}); save the sheet as CSV UTF-8") from None
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        headers = next(reader)
    except StopIteration:
        raise ImportFailure(f"{source}: empty file") from None
    except csv.Error as exc:
        raise ImportFailure(f"{source}: not a CSV file ({exc})") from None
    sheet = _Sheet(headers, report)
    if not report.ok:
        return report
    laws: dict[str, _Law] = {}
    current: _Law | None = None
    line = reader.line_num + 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(headers) and any(cell.strip() for cell in row[len(headers) :]):
                report.note("warning", sheet.where(start, len(headers)), "cells beyond the last header are ignored")
            cells = {name: row[i].strip() if i < len(row) else "" for name, i in sheet.index.items()}
            row_type = cells.get("row_type", "").lower() or "law"
            if row_type == "law":
                current = _law_row(sheet, start, cells, row, laws, source, report)
            elif row_type == "provision":
                owner = laws.get(cells["record_id"]) if cells.get("record_id") else current
                if owner is None:
                    report.note(
                        "error",
                        sheet.where(start, "record_id" if cells.get("record_id") else "row_type"),
                        "a provision row must follow its law row or name its law's record_id",
                    )
                    continue
                _provision_row(sheet, start, cells, owner)
            else:
                report.note("error", sheet.where(start, "row_type"), f'"{row_type}" is not "law" or "provision"')
    except csv.Error as exc:
        raise ImportFailure(f"{source}: line {line}: {exc}") from None
    for law in laws.values():
        for issue in validator().validate_record("law/1", law.imported.record, scope):
            law.imported.notes.append(Note("error", _locate(sheet, law, issue.pointer), issue.message))
        report.records.append(law.imported)
    if not laws and report.ok:
        report.note("warning", "", "no law rows")
    return report


def _locate(sheet: _Sheet, law: _Law, pointer: str) -> str:
    """The cell behind a JSON pointer into the record (the longest known prefix), else the law's line."""
    path = pointer.removeprefix("/record")
    while path:
        if path in law.cells:
            row_line, column = law.cells[path]
            return sheet.where(row_line, column)
        path = path.rsplit("/", 1)[0]
    return f"line {law.line}"


def _set(law: _Law, pointer: str, line: int, column: int | None, value: Any) -> None:
    target: Any = law.imported.record
    parts = pointer.strip("/").split("/")
    for position, part in enumerate(parts[:-1]):
        if isinstance(target, list):
            target = target[int(part)]
        else:
            target = target.setdefault(part, [] if parts[position + 1].isdigit() else {})
    if isinstance(target, list):
        target.append(value)
    else:
        target[parts[-1]] = value
    if column is not None:
        law.cells[pointer] = (line, column)


def _date_cell(sheet: _Sheet, line: int, name: str, value: str, notes: list[Note]) -> str | None:
    if not value:
        return None
    try:
        date.fromisoformat(value)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return value
    except ValueError:
        pass
    notes.append(Note("error", sheet.where(line, name), f'"{value}" is not a date written YYYY-MM-DD'))
    return None


def _terms(value: str) -> list[str]:
    out: list[str] = []
    for item in _SPLIT.split(value.replace(",", ";")):
        term = item.strip()
        if term and term not in out:
            out.append(term)
    return out


def _law_row(
    sheet: _Sheet,
    line: int,
    cells: dict[str, str],
    row: list[str],
    laws: dict[str, _Law],
    source: str,
    report: ImportReport,
) -> _Law | None:
    jurisdiction = cells.get("jurisdiction", "").upper()
    record_id = cells.get("record_id") or slug(
        f"{jurisdiction}-{cells.get('citation') or cells.get('title_original') or line}"
    )
    imported = Imported("law", record_id, {}, f"{source}:{line}")
    law = _Law(imported, line)
    notes = imported.notes
    if cells.get("record_id") and not is_record_id(record_id):
        notes.append(Note("error", sheet.where(line, "record_id"), f'"{record_id}" is not a valid record id'))
    if record_id in laws:
        report.note(
            "error",
            sheet.where(line, "record_id"),
            f'record id "{record_id}" is already used on line {laws[record_id].line}',
        )
        return laws[record_id]
    col = sheet.index.get

    def put(pointer: str, name: str, value: Any) -> None:
        _set(law, pointer, line, col(name), value)

    for pointer, name in _CELLS:
        if name in sheet.index:
            law.cells[pointer] = (line, sheet.index[name])
    if jurisdiction:
        put("/jurisdiction", "jurisdiction", jurisdiction)
    if cells.get("subdivision"):
        put("/subdivision", "subdivision", cells["subdivision"].upper())
    lang = cells.get("lang", "")
    if cells.get("title_original"):
        put("/title", "title_original", {"original": {"lang": lang, "text": cells["title_original"]}})
        law.cells["/title/original/lang"] = (line, sheet.index["lang"])
    official_text = cells.get("translations_official", "").lower()
    if official_text not in _TRUE | _FALSE:
        notes.append(Note("error", sheet.where(line, "translations_official"), "write yes or no"))
    translations: list[dict[str, Any]] = []
    for position, tag in sheet.titles.items():
        text = row[position].strip() if position < len(row) else ""
        if text and not (tag == lang.lower() and text == cells.get("title_original")):
            law.cells[f"/title/translations/{len(translations)}"] = (line, position)
            translations.append({"lang": tag, "text": text, "official": official_text in _TRUE})
    if translations and "title" in imported.record:
        imported.record["title"]["translations"] = translations
    if cells.get("summary"):
        put("/summary", "summary", {"original": {"lang": lang, "text": cells["summary"]}})
    for name in ("citation", "document_type", "legal_system", "status"):
        if cells.get(name):
            put(f"/{name}", name, cells[name])
    for name in ("adopted", "published", "entry_into_force", "last_amended", "repealed"):
        value = _date_cell(sheet, line, f"date_{name}", cells.get(f"date_{name}", ""), notes)
        if value:
            put(f"/dates/{name}", f"date_{name}", value)
    for name in ("name", "number"):
        if cells.get(f"publication_{name}"):
            put(f"/publication/{name}", f"publication_{name}", cells[f"publication_{name}"])
    published = _date_cell(sheet, line, "publication_date", cells.get("publication_date", ""), notes)
    if published:
        put("/publication/date", "publication_date", published)
    _identifiers(sheet, law, line, cells)
    if cells.get("url"):
        source_value = {"url": cells["url"], "kind": cells.get("source_kind") or "official_text"}
        put("/sources/0", "url", source_value)
        if cells.get("source_kind"):
            law.cells["/sources/0/kind"] = (line, sheet.index["source_kind"])
    for name in (*TERM_COLUMNS, "instruments_implemented"):
        terms = _terms(cells.get(name, ""))
        if terms:
            put(f"/{name}", name, terms)
            for i in range(len(terms)):
                law.cells[f"/{name}/{i}"] = (line, sheet.index[name])
    if any(cells.get(n) for n in ("provision_num", "provision_heading", "provision_text", "instrument_refs")):
        notes.append(
            Note("error", sheet.where(line, "provision_num"), 'provision cells on a law row: set row_type "provision"')
        )
    imported.record["provenance"] = provenance("csv")
    laws[record_id] = law
    return law


def _identifiers(sheet: _Sheet, law: _Law, line: int, cells: dict[str, str]) -> None:
    found: list[tuple[dict[str, str], str]] = []
    if cells.get("identifier") or cells.get("identifier_scheme"):
        found.append(
            ({"scheme": cells.get("identifier_scheme", ""), "value": cells.get("identifier", "")}, "identifier")
        )
    for item in _SPLIT.split(cells.get("identifiers", "")):
        text = item.strip()
        if not text:
            continue
        scheme, _, value = text.partition(":")
        if scheme.strip() in ("http", "https", "") or not value:
            law.imported.notes.append(
                Note("error", sheet.where(line, "identifiers"), f'"{text}" is not written scheme:value')
            )
            continue
        found.append(({"scheme": scheme.strip(), "value": value.strip()}, "identifiers"))
    for index, (ident, column) in enumerate(found):
        _set(law, f"/identifiers/{index}", line, sheet.index[column], ident)
        if column == "identifier" and "identifier_scheme" in sheet.index:
            law.cells[f"/identifiers/{index}/scheme"] = (line, sheet.index["identifier_scheme"])


def _provision_row(sheet: _Sheet, line: int, cells: dict[str, str], law: _Law) -> None:
    provisions = law.imported.record.setdefault("provisions", [])
    index = len(provisions)
    base = f"/provisions/{index}"
    provision: dict[str, Any] = {}
    provisions.append(provision)
    law.cells[base] = (line, sheet.index.get("provision_num", 0))
    notes = law.imported.notes
    for name, member in (
        ("provision_num", "num"),
        ("provision_eid", "eid"),
        ("provision_heading", "heading"),
        ("provision_text", "text"),
        ("provision_lang", "lang"),
        ("provision_status", "status"),
    ):
        if cells.get(name):
            provision[member] = cells[name]
            law.cells[f"{base}/{member}"] = (line, sheet.index[name])
    since = _date_cell(sheet, line, "provision_in_force_from", cells.get("provision_in_force_from", ""), notes)
    if since:
        provision["in_force_from"] = since
        law.cells[f"{base}/in_force_from"] = (line, sheet.index["provision_in_force_from"])
    for name in TERM_COLUMNS:
        terms = _terms(cells.get(name, ""))
        if terms:
            provision[name] = terms
            for i in range(len(terms) + 1):
                law.cells[f"{base}/{name}/{i}"] = (line, sheet.index[name])
            law.cells[f"{base}/{name}"] = (line, sheet.index[name])
    refs: list[dict[str, str]] = []
    for item in _terms(cells.get("instrument_refs", "")):
        instrument, _, article = item.partition(":")
        if not article:
            notes.append(
                Note("error", sheet.where(line, "instrument_refs"), f'"{item}" is not written instrument:article')
            )
            continue
        law.cells[f"{base}/instrument_refs/{len(refs)}"] = (line, sheet.index["instrument_refs"])
        refs.append({"instrument": instrument.strip(), "article": article.strip()})
    if refs:
        provision["instrument_refs"] = refs
        law.cells[f"{base}/instrument_refs"] = (line, sheet.index["instrument_refs"])
    if cells.get("instruments_implemented"):
        notes.append(
            Note(
                "error", sheet.where(line, "instruments_implemented"), "instruments_implemented belongs on the law row"
            )
        )
    if not cells.get("provision_num"):
        notes.append(Note("error", sheet.where(line, "provision_num"), "a provision row needs provision_num"))
