"""``POST /witness/add-checkpoint`` (C2SP ``tlog-witness``): this node cosigns another log's checkpoint.

The body is read with a hard limit before anything is parsed. Refusals are RFC 9457 problems with the
status the protocol fixes, except the 409 that tells the client the size last cosigned: its body is
exactly ``<size>\\n`` with ``Content-Type: text/x.tlog.size``, as clients of any implementation expect.
"""

from __future__ import annotations

from aiohttp import web

from exchange.errors import ExchangeError, Problems
from exchange.federation.witness import MAX_BODY_BYTES, SIZE_MEDIA_TYPE, WitnessRefusal
from exchange.gateway.appkeys import SERVICES

routes = web.RouteTableDef()

_PROBLEMS = {
    400: Problems.BAD_REQUEST,
    403: Problems.FORBIDDEN,
    404: Problems.NOT_FOUND,
    409: Problems.CHECKPOINT_CONFLICT,
    422: Problems.INCONSISTENT_CHECKPOINT,
}


async def _read_bounded(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ExchangeError(Problems.BODY_TOO_LARGE, f"an add-checkpoint body is at most {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await request.content.read(MAX_BODY_BYTES + 1 - total)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise ExchangeError(Problems.BODY_TOO_LARGE, f"an add-checkpoint body is at most {MAX_BODY_BYTES} bytes")


@routes.post("/witness/add-checkpoint")
async def add_checkpoint(request: web.Request) -> web.Response:
    body = await _read_bounded(request)
    witness = request.app[SERVICES].federation.witness
    if witness is None:
        raise ExchangeError(Problems.NOT_FOUND, "this node witnesses no log")
    try:
        lines = await witness.add_checkpoint(body)
    except WitnessRefusal as refusal:
        if refusal.size is not None:
            return web.Response(status=409, text=f"{refusal.size}\n", content_type=SIZE_MEDIA_TYPE)
        raise ExchangeError(_PROBLEMS[refusal.status], str(refusal)) from None
    return web.Response(text=lines, content_type="text/plain", charset="utf-8")
