"""The transparency log over HTTP: checkpoint, entries and proofs (hashes in standard base64)."""

from __future__ import annotations

from aiohttp import web

from exchange.gateway import query as qs
from exchange.gateway.appkeys import SERVICES
from exchange.gateway.problems import json_response
from exchange.repository.port import Log
from exchange.transparency.service import b64

routes = web.RouteTableDef()
MAX_ENTRIES = 1000


def _log_store(request: web.Request) -> Log:
    """The only part of the repository these routes read."""
    return request.app[SERVICES].repository


@routes.get("/v1/log/checkpoint")
async def checkpoint(request: web.Request) -> web.Response:
    note = await request.app[SERVICES].log.served_checkpoint()
    return web.Response(text=note, content_type="text/plain", charset="utf-8")


@routes.get("/v1/log/checkpoints")
async def checkpoints(request: web.Request) -> web.Response:
    """Every signed checkpoint with size greater than ``after``, smallest first (for auditors)."""
    qs.only(request, {"after"})
    rows = await _log_store(request).list_checkpoints(qs.integer(request, "after", 0), MAX_ENTRIES)
    notes = await request.app[SERVICES].log.served(rows)
    return json_response(
        {
            "checkpoints": [
                {"size": c.size, "root": b64(c.root), "note": note, "signed_at": c.signed_at}
                for c, note in zip(rows, notes, strict=True)
            ]
        }
    )


@routes.get("/v1/log/entries")
async def entries(request: web.Request) -> web.Response:
    qs.only(request, {"start", "end"})
    start = qs.integer(request, "start", None)
    end = min(qs.integer(request, "end", start + MAX_ENTRIES), start + MAX_ENTRIES)
    rows = await _log_store(request).log_entries(start, end)
    return json_response({"entries": [{"index": i, "entry": b64(e)} for i, e in rows]})


@routes.get("/v1/log/proof/inclusion")
async def inclusion(request: web.Request) -> web.Response:
    log = request.app[SERVICES].log
    qs.only(request, {"index", "size"})
    index, size = qs.integer(request, "index", None), qs.integer(request, "size", None)
    proof = await log.inclusion(index, size)
    root = await _log_store(request).log_root(size)
    return json_response({"index": index, "size": size, "root": b64(root), "proof": [b64(h) for h in proof]})


@routes.get("/v1/log/proofs/inclusion")
async def inclusions(request: web.Request) -> web.Response:
    """The inclusion proofs of up to 1000 entries in one tree: what a follower or mirror needs for a page
    of the feed in one request instead of one each."""
    qs.only(request, {"index", "size"})
    size = qs.integer(request, "size", None)
    indexes: list[int] = []
    for raw in qs.values(request, "index"):
        value = qs.parse_count(raw)
        if value is None:
            raise qs.bad("index", f"index values must be integers between 0 and {qs.MAX_SAFE}")
        indexes.append(value)
    if not 0 < len(indexes) <= MAX_ENTRIES:
        raise qs.bad("index", f"give 1 to {MAX_ENTRIES} indexes (repeated, or separated by commas)")
    proofs = await request.app[SERVICES].log.inclusions(indexes, size)
    root = await _log_store(request).log_root(size)
    return json_response(
        {
            "size": size,
            "root": b64(root),
            "proofs": [{"index": i, "proof": [b64(h) for h in p]} for i, p in zip(indexes, proofs, strict=True)],
        }
    )


@routes.get("/v1/log/proof/consistency")
async def consistency(request: web.Request) -> web.Response:
    qs.only(request, {"old", "new"})
    old, new = qs.integer(request, "old", None), qs.integer(request, "new", None)
    proof = await request.app[SERVICES].log.consistency(old, new)
    return json_response({"old": old, "new": new, "proof": [b64(h) for h in proof]})
