"""``GET /v1/coordination``: a State's needs, the activities answering them, unmet needs and overlaps."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from exchange.coordination import Gap, coordinate
from exchange.coverage import CoverageIndex
from exchange.gateway import query as qs
from exchange.gateway.appkeys import COVERAGE, SERVICES
from exchange.gateway.problems import json_response
from exchange.models import RecordQuery, RecordVersion
from exchange.repository.port import Records
from exchange.services import Services

routes = web.RouteTableDef()

#: Needs and activities read per query page; a State has tens of them, rarely hundreds.
_PAGE = 500


async def current_records(records: Records, query: RecordQuery) -> list[RecordVersion]:
    """Every current (not withdrawn) record matching ``query``, read page by page."""
    found: list[RecordVersion] = []
    page = dataclasses.replace(query, limit=_PAGE)
    while True:
        rows = await records.list_records(page)
        found.extend(rows)
        if len(rows) < _PAGE:
            return found
        last = rows[-1].key
        page = dataclasses.replace(page, after=(last.participant, last.kind, last.record_id))


@routes.get("/v1/coordination")
async def coordination(request: web.Request) -> web.Response:
    qs.only(request, {"jurisdiction"})
    jurisdiction = request.query.get("jurisdiction", "")
    services = request.app[SERVICES]
    if not jurisdiction:
        raise qs.bad("jurisdiction", "query parameter jurisdiction is required (an ISO 3166-1 alpha-3 code)")
    if not services.validator.is_country(jurisdiction):
        raise qs.bad("jurisdiction", f"{jurisdiction[:20]!r} is not an ISO 3166-1 alpha-3 country code")
    return json_response(await view(services, request.app[COVERAGE], jurisdiction))


async def view(services: Services, index: CoverageIndex, jurisdiction: str) -> dict[str, Any]:
    """The coordination view of one State, for the API and the portal alike."""
    repository = services.repository
    needs = await current_records(repository, RecordQuery(kind="need", jurisdiction=jurisdiction))
    needs = [n for n in needs if n.content.get("jurisdiction") == jurisdiction]
    activities = await current_records(repository, RecordQuery(kind="assistance", jurisdiction=jurisdiction))
    coverage, _ = await index.current(repository)
    gaps: list[Gap] = []
    terms: dict[tuple[str, str], frozenset[str]] = {}
    for instrument in sorted(coverage.catalogue.values(), key=lambda i: i.id):
        cells = coverage.state(instrument, jurisdiction)
        for article in instrument.articles:
            if article.terms and cells[article.number].status != "covered":
                gaps.append(Gap(instrument.id, article.number, cells[article.number].status))
                terms[(instrument.id, article.number)] = article.terms
    return coordinate(jurisdiction, needs, activities, gaps, terms)
