"""``GET /v1/report?from=&to=&format=``: the periodic report (JSON, Markdown, CSV or a standalone page)."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from exchange import report
from exchange.gateway import query as qs
from exchange.gateway.appkeys import COVERAGE, SERVICES
from exchange.gateway.problems import json_response

routes = web.RouteTableDef()

FORMATS = {"json": "application/json", "md": "text/markdown", "csv": "text/csv", "html": "text/html"}


def period(request: web.Request) -> tuple[date, date]:
    """``from`` and ``to`` as calendar dates, both required, ``from`` not after ``to``."""
    found: list[date] = []
    for name in ("from", "to"):
        day = qs.day(request, name)
        if day is None:
            raise qs.bad(name, f"{name} is required, a calendar date YYYY-MM-DD")
        found.append(date.fromisoformat(day))
    start, end = found
    if start > end:
        raise qs.bad("to", "to must not come before from")
    return start, end


async def build(request: web.Request, start: date, end: date) -> report.Report:
    services = request.app[SERVICES]
    regions = {code: tuple(e["regions"]) for code, e in services.validator.countries["countries"].items()}
    catalogue = request.app[COVERAGE].coverage.catalogue
    return await report.build(services.repository, services.repository, catalogue, regions, start, end)


@routes.get("/v1/report")
async def get_report(request: web.Request) -> web.Response:
    qs.only(request, {"from", "to", "format"})
    chosen = request.query.get("format", "json")
    if chosen not in FORMATS:
        raise qs.bad("format", f"format must be one of {', '.join(FORMATS)}")
    start, end = period(request)
    made = await build(request, start, end)
    if chosen == "json":
        return json_response(made.as_dict())
    text = {"md": report.markdown, "csv": report.csv_text, "html": report.html}[chosen](made)
    return web.Response(text=text, content_type=FORMATS[chosen], charset="utf-8")
