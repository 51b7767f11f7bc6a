"""The audit API (auditor or admin token): decided submissions, a version's provenance, exports."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

from aiohttp import web

from exchange import provenance, times
from exchange.errors import ExchangeError, Problems
from exchange.gateway import query as qs
from exchange.gateway.appkeys import SERVICES
from exchange.gateway.auth import authenticate
from exchange.gateway.problems import json_response
from exchange.models import KINDS, AuditQuery, RecordKey

routes = web.RouteTableDef()
log = logging.getLogger("exchange.gateway")

MAX_LIMIT = 1000
_SUBMISSION_PARAMS = frozenset({"participant", "kid", "outcome", "from", "to", "after", "limit"})
_EXPORTS = {
    "ndjson": ("application/x-ndjson", "exchange-audit.ndjson"),
    "prov": ("application/json", "exchange-audit.prov.json"),
}


def _time(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return times.iso(times.parse(raw))  # the stored form, so that text order is time order
    except ValueError:
        raise qs.bad(name, f"{name} must be an RFC 3339 date-time with an offset, like 2026-01-31T00:00:00Z") from None


@routes.get("/v1/audit/submissions")
async def submissions(request: web.Request) -> web.Response:
    """Decided submissions in log order; ``next`` is the ``after`` of the next page."""
    await authenticate(request, "auditor")
    params = request.query
    qs.only(request, _SUBMISSION_PARAMS)
    outcome = params.get("outcome") or None
    if outcome not in (None, "accepted", "rejected", "pending_review", "returned"):
        raise qs.bad("outcome", "outcome must be accepted, rejected, pending_review or returned")
    query = AuditQuery(
        participant=params.get("participant") or None,
        kid=params.get("kid") or None,
        outcome=outcome,
        received_from=_time(request, "from"),
        received_to=_time(request, "to"),
        after=qs.integer(request, "after", -1, -1, 2**53 - 1),
        limit=qs.integer(request, "limit", 100, 1, MAX_LIMIT),
    )
    results, cursor = await provenance.audit_page(request.app[SERVICES].repository, query)
    return json_response({"results": results, "next": cursor})


@routes.get("/v1/audit/records/{participant}/{kind}/{record_id}/versions/{version:[0-9]+}")
async def version_provenance(request: web.Request) -> web.Response:
    """The full provenance of one record version: version, submission, key, log entry and receipt."""
    await authenticate(request, "auditor")
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise ExchangeError(Problems.NOT_FOUND, f"there is no record kind {kind!r}")
    key = RecordKey(request.match_info["participant"], kind, request.match_info["record_id"])
    number = qs.path_number(request, "version", "version")
    services = request.app[SERVICES]
    document = await provenance.provenance(services.repository, services.log, key, number)
    if document is None:
        raise ExchangeError(Problems.NOT_FOUND, f"record {key} has no version {number}")
    return json_response(document)


@routes.get("/v1/audit/export")
async def export(request: web.Request) -> web.StreamResponse:
    """The whole history, streamed: NDJSON (``format=ndjson``) or W3C PROV-JSON (``format=prov``)."""
    await authenticate(request, "auditor")
    qs.only(request, {"format"})
    name = request.query.get("format", "ndjson")
    if name not in _EXPORTS:
        raise qs.bad("format", "format must be ndjson or prov")
    services = request.app[SERVICES]
    chunks: AsyncGenerator[bytes, None] = (
        provenance.export_ndjson(services.repository)
        if name == "ndjson"
        else provenance.export_prov(services.repository, services.settings.public_origin)
    )
    first = await anext(chunks)  # a failure before any byte is sent is still a problem response
    response = web.StreamResponse(
        headers={
            "Content-Type": _EXPORTS[name][0],
            "Content-Disposition": f'attachment; filename="{_EXPORTS[name][1]}"',
            "Cache-Control": "no-store",
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    except (ExchangeError, OSError) as exc:
        # Headers are gone: end the connection without the closing chunk, so the client sees a
        # truncated body rather than a short export that looks complete.
        log.warning("audit export interrupted", extra={"export_format": name, "reason": str(exc)})
        if request.transport is not None:
            request.transport.close()
        return response
    finally:
        await chunks.aclose()
    await response.write_eof()
    return response
