"""The transparency log over HTTP: checkpoint, entries and proofs (hashes in standard base64)."""

from __future__ import annotations

from aiohttp import web

from exchange.errors import ErrorItem, ExchangeError, Problems
from exchange.gateway.keys import SERVICES
from exchange.gateway.problems import json_response
from exchange.transparency.log import b64

routes = web.RouteTableDef()
MAX_ENTRIES = 1000


def _int(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None and default is not None:
        return default
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is None or value < 0:
        message = f"query parameter {name} must be a non-negative integer"
        raise ExchangeError(Problems.INVALID_REQUEST, message, errors=[ErrorItem(f"?{name}", "type", message)])
    return value


@routes.get("/v1/log/checkpoint")
async def checkpoint(request: web.Request) -> web.Response:
    note = (await request.app[SERVICES].log.checkpoint()).note
    return web.Response(text=note, content_type="text/plain", charset="utf-8")


@routes.get("/v1/log/checkpoints")
async def checkpoints(request: web.Request) -> web.Response:
    """Every signed checkpoint with size greater than ``after``, smallest first (for auditors)."""
    rows = await request.app[SERVICES].repository.list_checkpoints(_int(request, "after", 0), MAX_ENTRIES)
    return json_response(
        {"checkpoints": [{"size": c.size, "root": b64(c.root), "note": c.note, "signed_at": c.signed_at} for c in rows]}
    )


@routes.get("/v1/log/entries")
async def entries(request: web.Request) -> web.Response:
    start = _int(request, "start")
    end = min(_int(request, "end", start + MAX_ENTRIES), start + MAX_ENTRIES)
    rows = await request.app[SERVICES].repository.log_entries(start, end)
    return json_response({"entries": [{"index": i, "entry": b64(e)} for i, e in rows]})


@routes.get("/v1/log/proof/inclusion")
async def inclusion(request: web.Request) -> web.Response:
    log = request.app[SERVICES].log
    index, size = _int(request, "index"), _int(request, "size")
    proof = await log.inclusion(index, size)
    root = await request.app[SERVICES].repository.log_root(size)
    return json_response({"index": index, "size": size, "root": b64(root), "proof": [b64(h) for h in proof]})


@routes.get("/v1/log/proof/consistency")
async def consistency(request: web.Request) -> web.Response:
    old, new = _int(request, "old"), _int(request, "new")
    proof = await request.app[SERVICES].log.consistency(old, new)
    return json_response({"old": old, "new": new, "proof": [b64(h) for h in proof]})
