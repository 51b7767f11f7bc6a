"""The portal's public pages. URLs are fixed (other systems link to them); each page links to the API
request that returns its data.

Handlers read through the same repository port as the API and hand plain values to templates; nothing
here writes. Query parameters are read as leniently as a person types them: an unknown filter value
shows no results rather than an error, but values are still bounded and checked.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from exchange.coverage import Cell, coverage_as_of, matrix, treaty_status
from exchange.coverage import Instrument as CoverageInstrument
from exchange.errors import ExchangeError, Problems
from exchange.gateway import coordination
from exchange.gateway import query as qs
from exchange.gateway.appkeys import COVERAGE, SERVICES
from exchange.gateway.report import build as build_report
from exchange.gateway.report import period
from exchange.identifiers import KINDS
from exchange.models import ChangeQuery, RecordKey, RecordQuery, RecordVersion
from exchange.portal import heatmap
from exchange.portal.appkeys import PORTAL
from exchange.portal.i18n import negotiate
from exchange.portal.labels import Instrument
from exchange.portal.render import record_text, render
from exchange.portal.session import current
from exchange.services import Services
from exchange.visibility import PUBLIC, Viewer

routes = web.RouteTableDef()

PAGE_SIZE = 20
#: Provisions shown per State on the comparative article page (the State's page lists them all).
PROVISIONS_PER_COUNTRY = 5
#: The instrument the coverage pages show first: the universal one.
DEFAULT_INSTRUMENT = "inst.un.uncc2024"
MAX_PAGE = 100
#: Newest changes on the home page and in the Atom feed.
LATEST = 10
ATOM_ENTRIES = 50
_ISO3 = re.compile(r"^[A-Z]{3}$")
_TERM = re.compile(r"^[a-z][a-z0-9_.]{0,127}$")
_STATUS = re.compile(r"^[a-z_]{1,40}$")
_MAX_Q = 200


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


def _labels(request: web.Request) -> Any:
    return request.app[PORTAL].labels


def _not_found(what: str) -> ExchangeError:
    return ExchangeError(Problems.NOT_FOUND, what)


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "")
    number = qs.parse_count(raw) if raw else 1
    return min(max(number or 1, 1), MAX_PAGE)


# ---- the parts of a record a page shows ---------------------------------------------------------------


def json_lines(content: Any) -> list[str]:
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


@dataclass(slots=True)
class DiffLine:
    kind: str  # "same", "added", "removed", "gap"
    text: str


def diff(old: Any, new: Any, context: int = 3) -> list[DiffLine]:
    """A readable line diff of two versions' content (canonical pretty JSON, keys sorted)."""
    lines: list[DiffLine] = []
    before, after = json_lines(old), json_lines(new)
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        if lines:
            lines.append(DiffLine("gap", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(DiffLine("same", text) for text in before[i1:i2])
                continue
            lines.extend(DiffLine("removed", text) for text in before[i1:i2])
            lines.extend(DiffLine("added", text) for text in after[j1:j2])
    return lines


# ---- search ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Search:
    """The search form's values, read leniently from the URL."""

    q: str = ""
    kind: str = ""
    country: str = ""
    region: str = ""
    tag: str = ""
    status: str = ""
    instrument: str = ""
    article: str = ""
    page: int = 1
    invalid: list[str] = field(default_factory=list)

    @classmethod
    def from_request(cls, request: web.Request) -> Search:
        get = request.query.get
        search = cls(page=_page_number(request))
        words = qs.CONTROL_CHARACTERS.sub(" ", get("q", "")).split()  # words only: no NUL reaches a database
        search.q = " ".join(words)[:_MAX_Q]
        for name, pattern in (
            ("kind", None),
            ("country", _ISO3),
            ("region", re.compile(r"^[0-9]{3}$")),
            ("tag", _TERM),
            ("status", _STATUS),
            ("instrument", _TERM),
            ("article", re.compile(r"^[1-9][0-9]{0,2}$")),
        ):
            value = get(name, "").strip()
            if not value:
                continue
            valid = value in KINDS if pattern is None else bool(pattern.match(value))
            if valid:
                setattr(search, name, value)
            else:
                search.invalid.append(name)
        return search

    def query(self, limit: int, viewer: Viewer = PUBLIC) -> RecordQuery:
        return RecordQuery(
            kind=self.kind or None,
            jurisdiction=self.country or None,
            region=self.region or None,
            tag=self.tag or None,
            status=self.status or None,
            q=self.q or None,
            instrument=self.instrument or None,
            article=(self.article or None) if self.instrument else None,
            limit=limit,
            viewer=viewer,
        )

    def api(self) -> str:
        """The API request that returns the same records."""
        params = {"q": self.q, "kind": self.kind, "jurisdiction": self.country, "region": self.region}
        params |= {"tag": self.tag, "status": self.status, "instrument": self.instrument}
        params |= {"article": self.article if self.instrument else ""}
        return "/v1/records?" + "&".join(f"{k}={v}" for k, v in params.items() if v)

    @property
    def filtered(self) -> bool:
        return any((self.q, self.kind, self.country, self.region, self.tag, self.status, self.instrument))


@routes.get("/search")
async def search(request: web.Request) -> web.Response:
    form = Search.from_request(request)
    repository = _services(request).repository
    reader = await portal_viewer(request)
    offset = (form.page - 1) * PAGE_SIZE
    rows = await repository.list_records(form.query(offset + PAGE_SIZE + 1, reader))
    counts = await repository.count_records(form.query(1, reader))
    results = rows[offset : offset + PAGE_SIZE]
    return _private(
        reader,
        render(
            request,
            "search.html",
            form=form,
            results=results,
            counts=counts,
            more=len(rows) > offset + PAGE_SIZE,
            offset=offset,
        ),
    )


async def portal_viewer(request: web.Request) -> Viewer:
    """Who reads the page: the signed-in token's holder, or the public. Search, record pages and the list
    of changes show what the reader may see; the aggregate pages (home counts, countries, instruments,
    coverage, coordination, the report and the Atom feed) count public versions only, the same for all."""
    session = await current(request)
    return Viewer.of_token(session.token if session is not None else None)


def _private(reader: Viewer, response: web.Response) -> web.Response:
    """No shared cache keeps a page drawn for a signed-in reader."""
    if reader.authenticated:
        response.headers["Cache-Control"] = "private, no-store"
    return response


# ---- home -----------------------------------------------------------------------------------------------


async def latest_changes(
    services: Services, count: int, query: ChangeQuery | None = None, viewer: Viewer = PUBLIC
) -> list[Any]:
    """The newest changes ``viewer`` may see, newest first, each with the title of the version it made."""
    head = await services.repository.last_seq()
    base = query or ChangeQuery()
    found = await services.repository.list_changes(
        ChangeQuery(
            since=max(0, head - count * 20 if base.kinds or base.jurisdictions else head - count),
            limit=count * 20 if base.kinds or base.jurisdictions else count,
            kinds=base.kinds,
            jurisdictions=base.jurisdictions,
            include_content=True,
        )
    )
    found = [c for c in found if viewer.may_see(c.visibility, c.readers)]
    return list(reversed(found[-count:]))


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    services = _services(request)
    counts = await services.repository.count_records(RecordQuery())
    labels = _labels(request)
    regions = [(code, counts.regions.get(code, 0)) for code in labels.top_regions()]
    measured = instrument_catalogue(request).get(DEFAULT_INSTRUMENT)
    shares = (await coverage_view(request, measured)).shares if measured is not None else {}
    return render(
        request,
        "home.html",
        counts=counts,
        regions=regions,
        changes=await latest_changes(services, LATEST),
        instruments=list(labels.instruments.values()),
        shares=shares,
        default_instrument=DEFAULT_INSTRUMENT,
    )


# ---- records --------------------------------------------------------------------------------------------


def _record_key(request: web.Request) -> RecordKey:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise _not_found(f"there is no record kind {kind[:20]!r}")
    return RecordKey(request.match_info["participant"], kind, request.match_info["record_id"])


def _diff_pair(request: web.Request, versions: Sequence[RecordVersion]) -> tuple[int, int] | None:
    """``?from=A&to=B``: two versions to compare, when both exist and differ."""
    numbers = {v.version for v in versions}
    raw_from, raw_to = request.query.get("from", ""), request.query.get("to", "")
    if not raw_from and not raw_to:
        return None
    low, high = qs.parse_count(raw_from), qs.parse_count(raw_to)
    if low is None or high is None or low not in numbers or high not in numbers or low == high:
        return None
    return (low, high)


async def _record_page(request: web.Request, key: RecordKey, number: int | None) -> web.Response:
    services = _services(request)
    reader = await portal_viewer(request)
    versions = [v for v in await services.repository.list_versions(key) if reader.may_see(v.visibility, v.readers)]
    if not versions:
        raise _not_found(f"there is no record {key}")
    latest = versions[-1]
    shown = latest if number is None else next((v for v in versions if v.version == number), None)
    if shown is None:
        raise _not_found(f"record {key} has no version {number}")
    if shown.action == "withdraw" and number is None:
        # the record's page stays, saying it was withdrawn; its last content is one click away
        previous = [v for v in versions if v.action != "withdraw"]
        content_version = previous[-1] if previous else None
    else:
        content_version = shown if shown.action != "withdraw" else None
    pair = _diff_pair(request, versions)
    changes = None
    if pair is not None:
        old = next(v for v in versions if v.version == pair[0])
        new = next(v for v in versions if v.version == pair[1])
        changes = diff(old.content or {}, new.content or {})
    checkpoint = await services.repository.latest_checkpoint()
    return _private(
        reader,
        render(
            request,
            "record.html",
            key=key,
            versions=versions,
            shown=shown,
            latest=latest,
            content_version=content_version,
            content=content_version.content if content_version else {},
            pair=pair,
            changes=changes,
            checkpoint=checkpoint,
            key_state=await services.repository.get_key(shown.kid),
            origin=services.settings.public_origin.rstrip("/"),
        ),
    )


@routes.get("/records/{participant}/{kind}/{record_id}")
async def record(request: web.Request) -> web.Response:
    return await _record_page(request, _record_key(request), None)


@routes.get("/records/{participant}/{kind}/{record_id}/versions/{version}")
async def record_version(request: web.Request) -> web.Response:
    key = _record_key(request)
    return await _record_page(request, key, qs.path_number(request, "version", "version"))


# ---- countries --------------------------------------------------------------------------------------------


async def all_current(services: Services, query: RecordQuery, cap: int = 2000) -> list[RecordVersion]:
    """The current records matching ``query``, read page by page up to ``cap``."""
    found: list[RecordVersion] = []
    after = None
    while len(found) < cap:
        page = await services.repository.list_records(
            RecordQuery(
                kind=query.kind, jurisdiction=query.jurisdiction, tag=query.tag, after=after, limit=min(500, cap)
            )
        )
        found.extend(page)
        if len(page) < min(500, cap):
            break
        last = page[-1].key
        after = (last.participant, last.kind, last.record_id)
    return found[:cap]


@routes.get("/countries")
async def countries(request: web.Request) -> web.Response:
    counts = await _services(request).repository.count_records(RecordQuery())
    labels = _labels(request)
    lang = negotiate(request)
    rows = sorted(
        ((code, n) for code, n in counts.jurisdictions.items() if labels.is_country(code)),
        key=lambda item: labels.country(item[0], lang).text,
    )
    return render(request, "countries.html", rows=rows)


@routes.get("/countries/{iso3}")
async def country(request: web.Request) -> web.Response:
    iso3 = request.match_info["iso3"].upper()
    labels = _labels(request)
    if not _ISO3.match(iso3) or not labels.is_country(iso3):
        raise _not_found(f"there is no country {request.match_info['iso3'][:20]!r}")
    if iso3 != request.match_info["iso3"]:
        raise web.HTTPPermanentRedirect(f"/countries/{iso3}")
    services = _services(request)
    records = await all_current(services, RecordQuery(jurisdiction=iso3))
    by_kind: dict[str, list[RecordVersion]] = {kind: [] for kind in KINDS}
    for version in records:
        by_kind[version.key.kind].append(version)
    coverage, _ = await request.app[COVERAGE].current(services.repository)
    cells = {i.id: coverage.state(i, iso3) for i in coverage.catalogue.values()}
    return render(
        request,
        "country.html",
        iso3=iso3,
        by_kind=by_kind,
        cells=cells,
        treaties=treaty_status(services.validator.treaty_status),
        instruments=[i for i in labels.instruments.values() if i.id in cells],
        regions=labels.country_regions(iso3),
    )


# ---- instruments --------------------------------------------------------------------------------------------


def _instrument(request: web.Request) -> Instrument:
    found: Instrument | None = _labels(request).instruments.get(request.match_info["instrument"])
    if found is None:
        raise _not_found(f"there is no instrument {request.match_info['instrument'][:40]!r} in the catalogue")
    return found


@routes.get("/instruments")
async def instruments(request: web.Request) -> web.Response:
    return render(request, "instruments.html", instruments=list(_labels(request).instruments.values()))


@routes.get("/instruments/{instrument}")
async def instrument(request: web.Request) -> web.Response:
    found = _instrument(request)
    services = _services(request)
    tags = (await services.repository.count_records(RecordQuery(kind="law"))).tags
    laws = {a.number: max((tags.get(t, 0) for t in a.terms), default=0) for a in found.articles}
    measured = instrument_catalogue(request).get(found.id)
    picture = None
    if measured is not None:
        view = await coverage_view(request, measured)
        title = _labels(request).instrument(found.id, negotiate(request)).text
        picture = heatmap.svg(view.articles, view.groups, title) if view.rows else None
    return render(request, "instrument.html", instrument=found, laws=laws, picture=picture)


@routes.get("/instruments/{instrument}/articles/{number}")
async def instrument_article(request: web.Request) -> web.Response:
    found = _instrument(request)
    article = found.article(request.match_info["number"])
    if article is None:
        raise _not_found(f"{found.id} has no catalogued article {request.match_info['number'][:20]!r}")
    services = _services(request)
    coverage, _ = await request.app[COVERAGE].current(services.repository)
    measured = coverage.catalogue.get(found.id)
    lang = negotiate(request)
    labels = _labels(request)
    rows: list[tuple[str, Cell]] = []
    if measured is not None:
        for jurisdiction in sorted(coverage.jurisdictions(), key=lambda j: labels.country(j, lang).text):
            cell = coverage.state(measured, jurisdiction)[article.number]
            if cell.evidence:
                rows.append((jurisdiction, cell))
    return render(
        request,
        "article.html",
        instrument=found,
        article=article,
        rows=rows,
        countries=len(rows),
        per_country=PROVISIONS_PER_COUNTRY,
    )


# ---- changes and the log ---------------------------------------------------------------------------------


def _change_filters(request: web.Request) -> ChangeQuery:
    kinds = tuple(k for k in qs.values(request, "kind") if k in KINDS)
    jurisdictions = tuple(j for j in qs.values(request, "jurisdiction") if _ISO3.match(j))
    return ChangeQuery(kinds=kinds, jurisdictions=jurisdictions)


@routes.get("/changes")
async def changes(request: web.Request) -> web.Response:
    services = _services(request)
    filters = _change_filters(request)
    head = await services.repository.last_seq()
    raw_before = request.query.get("before", "")
    before = qs.parse_count(raw_before) if raw_before else None
    top = min(before - 1, head) if before else head
    found = await services.repository.list_changes(
        ChangeQuery(
            since=max(0, top - PAGE_SIZE * (20 if filters.kinds or filters.jurisdictions else 1)),
            limit=PAGE_SIZE * 20,
            kinds=filters.kinds,
            jurisdictions=filters.jurisdictions,
            include_content=True,
        )
    )
    reader = await portal_viewer(request)
    found = [c for c in found if c.seq <= top and reader.may_see(c.visibility, c.readers)][-PAGE_SIZE:]
    found.reverse()
    older = found[-1].seq if found and found[-1].seq > 1 else None
    return _private(reader, render(request, "changes.html", changes=found, older=older, head=head, filters=filters))


def _atom_time(value: str) -> str:
    return value if value.endswith("Z") else value + "Z"


@routes.get("/changes.atom")
async def changes_atom(request: web.Request) -> web.Response:
    """An Atom 1.0 feed of the newest changes (``kind``, ``jurisdiction`` filter it like the API)."""
    services = _services(request)
    filters = _change_filters(request)
    found = await latest_changes(services, ATOM_ENTRIES, filters)
    origin = services.settings.public_origin.rstrip("/")
    updated = _atom_time(found[0].received_at) if found else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = []
    for change in found:
        title = record_text(change.content.get("title") if isinstance(change.content, dict) else None, "en").text
        link = f"{origin}/records/{change.key}/versions/{change.version}"
        verb = "withdrawn" if change.action == "withdraw" else f"version {change.version}"
        entries.append(
            "<entry>"
            f"<id>{escape(origin)}/changes/{change.seq}</id>"
            f"<title>{escape(title or str(change.key))} ({escape(verb)})</title>"
            f'<link rel="alternate" type="text/html" href="{escape(link)}"/>'
            f"<updated>{escape(_atom_time(change.received_at))}</updated>"
            f"<author><name>{escape(change.key.participant)}</name></author>"
            f'<category term="{escape(change.key.kind)}"/>'
            f"<summary>{escape(str(change.key))} · seq {change.seq} · log index {change.log_index}</summary>"
            "</entry>"
        )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{escape(origin)}/changes.atom{escape('?' + request.query_string if request.query_string else '')}</id>"
        "<title>exchange: recent changes</title>"
        f'<link rel="self" href="{escape(origin + request.path_qs)}"/>'
        f'<link rel="alternate" type="text/html" href="{escape(origin)}/changes"/>'
        f"<updated>{escape(updated)}</updated>" + "".join(entries) + "</feed>"
    )
    return web.Response(body=body.encode(), content_type="application/atom+xml", charset="utf-8")


@routes.get("/log")
async def log_page(request: web.Request) -> web.Response:
    services = _services(request)
    checkpoint = await services.repository.latest_checkpoint()
    return render(
        request,
        "log.html",
        checkpoint=checkpoint,
        size=await services.repository.log_size(),
        origin=services.log.origin,
        verifier_keys=services.log.verifier_keys,
        public_origin=services.settings.public_origin,
    )


# ---- coverage ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoverageView:
    """What the coverage pictures need: the articles shown, the States by region, and their cells."""

    instrument: CoverageInstrument
    articles: list[str]
    groups: list[heatmap.Group]
    rows: list[dict[str, Any]]
    as_of: int
    shares: dict[str, tuple[int, int, int]]


async def coverage_view(
    request: web.Request, instrument: CoverageInstrument, region: str | None = None, as_of: int | None = None
) -> CoverageView:
    services = _services(request)
    labels = _labels(request)
    lang = negotiate(request)
    if as_of is None:
        coverage, seq = await request.app[COVERAGE].current(services.repository)
    else:
        coverage, seq = await coverage_as_of(services.repository, instrument_catalogue(request), as_of), as_of
    articles = [a for a in instrument.articles if a.terms]
    numbers = [a.number for a in articles]
    top = {code: labels.region(code, lang).text for code in labels.top_regions()}
    region_of = {}
    for jurisdiction in coverage.jurisdictions():
        codes = labels.country_regions(jurisdiction)
        if codes and codes[0] in top and (region is None or region in codes):
            region_of[jurisdiction] = codes[0]
    states = sorted(region_of, key=lambda j: (top[region_of[j]], labels.country(j, lang).text))
    rows = matrix(coverage, instrument, states)
    for row in rows:  # the pictures show the substantive articles only, and so do their counts
        shown = [row["cells"][n] for n in numbers]
        row["counts"] = {status: shown.count(status) for status in ("covered", "partial", "unknown")}
    groups: dict[str, list[heatmap.Row]] = {}
    for row in rows:
        cells = [row["cells"][n] for n in numbers]
        name = labels.country(row["jurisdiction"], lang).text
        groups.setdefault(top[region_of[row["jurisdiction"]]], []).append(heatmap.Row(row["jurisdiction"], name, cells))
    shares = heatmap.regional_shares(
        {row["jurisdiction"]: [row["cells"][n] for n in numbers] for row in rows},
        {j: top[code] for j, code in region_of.items()},
    )
    return CoverageView(instrument, numbers, [heatmap.Group(n, r) for n, r in groups.items()], rows, seq, shares)


def instrument_catalogue(request: web.Request) -> dict[str, CoverageInstrument]:
    return dict(request.app[COVERAGE].coverage.catalogue)


@routes.get("/coverage")
async def coverage_page(request: web.Request) -> web.Response:
    catalogue = instrument_catalogue(request)
    chosen = catalogue.get(request.query.get("instrument", "")) or catalogue.get(DEFAULT_INSTRUMENT)
    if chosen is None:
        raise _not_found("no instrument with catalogued articles")
    region = request.query.get("region", "")
    region = region if re.fullmatch(r"[0-9]{3}", region) else ""
    services = _services(request)
    head = await services.repository.last_seq()
    raw = request.query.get("as_of", "")
    as_of = qs.parse_count(raw) if raw else None
    if as_of is not None and as_of >= head:
        as_of = None
    view = await coverage_view(request, chosen, region or None, as_of)
    title = _labels(request).instrument(chosen.id, negotiate(request)).text
    return render(
        request,
        "coverage.html",
        view=view,
        picture=heatmap.svg(view.articles, view.groups, title),
        catalogue=sorted(catalogue.values(), key=lambda i: i.id),
        region=region,
        head=head,
        regions=list(_labels(request).top_regions()),
    )


@routes.get("/coordination")
async def coordination_page(request: web.Request) -> web.Response:
    """One State's needs, the activities answering them, unmet needs, gaps and possible duplications."""
    labels = _labels(request)
    jurisdiction = request.query.get("jurisdiction", "").upper()
    services = _services(request)
    states = sorted(
        (await services.repository.count_records(RecordQuery(kind="need"))).jurisdictions,
        key=lambda j: labels.country(j, negotiate(request)).text,
    )
    if not jurisdiction and states:
        jurisdiction = states[0]
    if jurisdiction and not (_ISO3.match(jurisdiction) and labels.is_country(jurisdiction)):
        raise _not_found(f"there is no country {jurisdiction[:20]!r}")
    found = await coordination.view(services, request.app[COVERAGE], jurisdiction) if jurisdiction else None
    return render(request, "coordination.html", jurisdiction=jurisdiction, states=states, view=found)


@routes.get("/report")
async def report_page(request: web.Request) -> web.Response:
    """The periodic report for a period (this year so far by default)."""
    today = datetime.now(UTC).date()
    if request.query.get("from") or request.query.get("to"):
        try:
            start, end = period(request)
        except ExchangeError:
            start, end = today.replace(month=1, day=1), today
    else:
        start, end = today.replace(month=1, day=1), today
    made = await build_report(request, start, end)
    return render(request, "report.html", report=made.as_dict())
