"""``GET /v1/coverage`` and ``GET /v1/coverage/{ISO3}``: what each State's laws cover of a convention.

JSON by default; CSV (one row per State and article) with ``Accept: text/csv`` or ``format=csv``, for
researchers' spreadsheets. ``as_of=SEQ`` answers as the repository stood at that position of the change
feed, so progress over time can be shown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

from exchange.coverage import Coverage, Instrument, coverage_as_of, matrix, treaty_status
from exchange.errors import ExchangeError, Problems
from exchange.gateway import query as qs
from exchange.gateway.appkeys import COVERAGE, SERVICES
from exchange.gateway.problems import json_response

routes = web.RouteTableDef()


def _instrument(request: web.Request, required: bool = True) -> Instrument | None:
    catalogue = request.app[COVERAGE].coverage.catalogue
    raw = request.query.get("instrument", "")
    if not raw:
        if required:
            raise qs.bad("instrument", f"instrument is required, one of {', '.join(sorted(catalogue))}")
        return None
    found = catalogue.get(raw)
    if found is None:
        raise qs.bad(
            "instrument", f"instrument must be one whose articles are catalogued: {', '.join(sorted(catalogue))}"
        )
    return found


def _wants_csv(request: web.Request) -> bool:
    wanted = request.query.get("format", "")
    if wanted not in ("", "json", "csv"):
        raise qs.bad("format", "format must be json or csv")
    if wanted:
        return wanted == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


async def _coverage(request: web.Request) -> tuple[Coverage, int]:
    """The coverage now (kept current with the feed), or as of ``?as_of``."""
    services = request.app[SERVICES]
    index = request.app[COVERAGE]
    if request.query.get("as_of"):
        head = await services.repository.last_seq()
        as_of = qs.integer(request, "as_of", None, 0)
        if as_of > head:
            raise qs.bad("as_of", f"as_of must not lie beyond the feed's last seq ({head})")
        return await coverage_as_of(services.repository, index.coverage.catalogue, as_of), as_of
    return await index.current(services.repository)


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> web.Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return web.Response(
        text=buffer.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _names(request: web.Request) -> dict[str, str]:
    countries = request.app[SERVICES].validator.countries["countries"]
    return {code: entry["name"]["en"] for code, entry in countries.items()}


@routes.get("/v1/coverage")
async def coverage_matrix(request: web.Request) -> web.Response:
    qs.only(request, {"instrument", "region", "as_of", "format"})
    instrument = _instrument(request)
    assert instrument is not None
    services = request.app[SERVICES]
    region = request.query.get("region", "")
    code = None
    if region:
        code = services.validator.region_code(region)
        if code is None:
            raise qs.bad("region", "region must be a UN M49 area code or name, such as 150 or Europe")
    wants_csv = _wants_csv(request)
    coverage, seq = await _coverage(request)
    states = sorted(j for j in coverage.jurisdictions() if code is None or code in services.validator.region_codes(j))
    treaties = treaty_status(services.validator.treaty_status)
    rows = matrix(coverage, instrument, states, _names(request), treaties)
    if wants_csv:
        return _csv(
            ("jurisdiction", "name", "instrument", "article", "status"),
            (
                (row["jurisdiction"], row["name"], instrument.id, number, status)
                for row in rows
                for number, status in row["cells"].items()
            ),
            f"coverage-{instrument.id}.csv",
        )
    return json_response(
        {
            "instrument": instrument.id,
            "as_of": seq,
            "region": code,
            "articles": [{"number": a.number, "title": a.title.get("en", "")} for a in instrument.articles],
            "states": rows,
        }
    )


@routes.get("/v1/coverage/{iso3}")
async def coverage_of_state(request: web.Request) -> web.Response:
    qs.only(request, {"instrument", "as_of", "format"})
    iso3 = request.match_info["iso3"]
    services = request.app[SERVICES]
    if not services.validator.is_country(iso3):
        raise ExchangeError(Problems.NOT_FOUND, f"there is no country {iso3[:20]!r}")
    chosen = _instrument(request, required=False)
    wants_csv = _wants_csv(request)
    coverage, seq = await _coverage(request)
    catalogue = [chosen] if chosen is not None else sorted(coverage.catalogue.values(), key=lambda i: i.id)
    body: list[dict[str, Any]] = []
    for instrument in catalogue:
        cells = coverage.state(instrument, iso3)
        body.append(
            {
                "instrument": instrument.id,
                "treaty_status": treaty_status(services.validator.treaty_status).get((instrument.id, iso3)),
                "articles": [
                    {
                        "number": a.number,
                        "title": a.title.get("en", ""),
                        "status": cells[a.number].status,
                        "provisions": [e.as_dict() for e in cells[a.number].evidence],
                    }
                    for a in instrument.articles
                ],
            }
        )
    if wants_csv:
        return _csv(
            ("jurisdiction", "instrument", "article", "status", "record", "version", "provision", "legal_status"),
            (
                (
                    iso3,
                    item["instrument"],
                    a["number"],
                    a["status"],
                    p["record"],
                    p["version"],
                    p["provision"] or "",
                    p["legal_status"],
                )
                for item in body
                for a in item["articles"]
                for p in (a["provisions"] or [{"record": "", "version": "", "provision": None, "legal_status": ""}])
            ),
            f"coverage-{iso3}.csv",
        )
    return json_response({"jurisdiction": iso3, "as_of": seq, "instruments": body})
