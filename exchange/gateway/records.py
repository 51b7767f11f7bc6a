"""Record reads: the current view with filters and cursors, single records with ETags, versions."""

from __future__ import annotations

import base64
import binascii

import orjson
from aiohttp import web

from exchange.errors import ExchangeError, Problems
from exchange.gateway import query as qs
from exchange.gateway.appkeys import SERVICES
from exchange.gateway.auth import PRIVATE, viewer
from exchange.gateway.problems import json_response
from exchange.models import KINDS, RecordKey, RecordQuery, RecordVersion
from exchange.repository.port import Records

routes = web.RouteTableDef()
_FILTERS = ("kind", "participant", "jurisdiction", "region", "tag", "status", "q")


def _records(request: web.Request) -> Records:
    """The only part of the repository these routes read."""
    return request.app[SERVICES].repository


def encode_cursor(last: RecordVersion) -> str:
    raw = orjson.dumps([last.key.participant, last.key.kind, last.key.record_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[str, str, str]:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise qs.bad("cursor", "the cursor is not one this server issued") from None
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value)):
        raise qs.bad("cursor", "the cursor is not one this server issued")
    return value[0], value[1], value[2]


def _key(request: web.Request) -> RecordKey:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise ExchangeError(Problems.NOT_FOUND, f"there is no record kind {kind!r}")
    return RecordKey(request.match_info["participant"], kind, request.match_info["record_id"])


@routes.get("/v1/records")
async def list_records(request: web.Request) -> web.Response:
    params = request.query
    qs.only(request, {*_FILTERS, "instrument", "article", "from", "to", "cursor", "limit"})
    limit = qs.integer(request, "limit", 50, 1, 500)
    filters = {name: params.get(name) or None for name in _FILTERS}
    if filters["kind"] is not None and filters["kind"] not in KINDS:
        raise qs.bad("kind", f"kind must be one of {', '.join(KINDS)}")
    if filters["region"] is not None:
        code = request.app[SERVICES].validator.region_code(filters["region"])
        if code is None:
            raise qs.bad("region", "region must be a UN M49 area code or name, such as 150 or Europe")
        filters["region"] = code
    instrument, article = instrument_filter(request)
    query = RecordQuery(
        **filters,
        instrument=instrument,
        article=article,
        date_from=qs.day(request, "from"),
        date_to=qs.day(request, "to"),
        after=decode_cursor(params["cursor"]) if params.get("cursor") else None,
        limit=limit + 1,
        viewer=await viewer(request),
    )
    rows = await _records(request).list_records(query)
    more = len(rows) > limit
    rows = rows[:limit]
    return json_response(
        {"results": [r.as_dict() for r in rows], "next": encode_cursor(rows[-1]) if more and rows else None},
        headers=_cache(rows),
    )


def instrument_filter(request: web.Request) -> tuple[str | None, str | None]:
    """``instrument`` (a catalogued instrument) and ``article`` (one of its catalogued articles)."""
    instrument = request.query.get("instrument") or None
    article = request.query.get("article") or None
    instruments = {i["id"]: i for i in request.app[SERVICES].validator.vocabularies["instruments"]}
    if article is not None and instrument is None:
        raise qs.bad("article", "article needs instrument, the convention it is an article of")
    if instrument is not None and instrument not in instruments:
        raise qs.bad("instrument", f"instrument must be one of {', '.join(sorted(instruments))}")
    if article is not None and instrument is not None:
        numbers = [a["number"] for a in instruments[instrument].get("articles", [])]
        if article.partition("(")[0] not in numbers:
            raise qs.bad("article", f"{instrument} has no catalogued article {article[:20]!r}")
        article = article.partition("(")[0]
    return instrument, article


def _etag(version: RecordVersion) -> str:
    return f'"{version.key}@{version.version}"'


def _cache(versions: list[RecordVersion]) -> dict[str, str]:
    """No shared cache keeps an answer that holds a version not everyone may see."""
    return dict(PRIVATE) if any(v.visibility != "public" for v in versions) else {}


@routes.get("/v1/records/{participant}/{kind}/{record_id}")
async def get_record(request: web.Request) -> web.Response:
    key = _key(request)
    version = await _records(request).get_record(key)
    if version is None or not (await viewer(request)).may_see(version.visibility, version.readers):
        raise ExchangeError(Problems.NOT_FOUND, f"no record {key}")
    if version.action == "withdraw":
        raise ExchangeError(
            Problems.RECORD_WITHDRAWN,
            f"record {key} was withdrawn in version {version.version}; its history stays readable",
            extra={"version": version.version, "versions": f"/v1/records/{key}/versions"},
        )
    etag = _etag(version)
    headers = {"ETag": etag, **_cache([version])}
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return json_response(version.as_dict(), headers=headers)


@routes.get("/v1/records/{participant}/{kind}/{record_id}/versions")
async def list_versions(request: web.Request) -> web.Response:
    key = _key(request)
    reader = await viewer(request)
    versions = [v for v in await _records(request).list_versions(key) if reader.may_see(v.visibility, v.readers)]
    if not versions:
        raise ExchangeError(Problems.NOT_FOUND, f"no record {key}")
    return json_response({"versions": [v.as_dict() for v in versions]}, headers=_cache(versions))


@routes.get("/v1/records/{participant}/{kind}/{record_id}/versions/{version:[0-9]+}")
async def get_version(request: web.Request) -> web.Response:
    key = _key(request)
    number = qs.path_number(request, "version", "version")
    version = await _records(request).get_version(key, number)
    if version is None or not (await viewer(request)).may_see(version.visibility, version.readers):
        raise ExchangeError(Problems.NOT_FOUND, f"record {key} has no version {number}")
    return json_response(version.as_dict(), headers={"ETag": _etag(version), **_cache([version])})
