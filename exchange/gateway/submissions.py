"""Submission endpoints: single and batch intake, status, and the stored JWS."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from exchange import ijson
from exchange.errors import ExchangeError, Problems
from exchange.gateway.appkeys import BATCH_SLOTS, SERVICES
from exchange.gateway.auth import authenticate, viewer
from exchange.gateway.problems import json_response, problem_response, read_body, read_lines
from exchange.identifiers import (
    COMPACT_MEDIA_TYPE,
    FLATTENED_MEDIA_TYPE,
    media_type_of,
    serialization_of,
    sniff_serialization,
)
from exchange.intake import Receipt
from exchange.models import RecordKey, SubmissionState
from exchange.repository.port import Submissions

log = logging.getLogger("exchange.gateway")
NDJSON = "application/x-ndjson"
routes = web.RouteTableDef()


def _accepted(receipt: Receipt) -> web.Response:
    return json_response(receipt.body, status=202, headers={"Location": receipt.location})


@routes.post("/v1/submissions")
async def submit(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    media_type = request.content_type
    if serialization_of(media_type) is None:
        raise ExchangeError(
            Problems.UNSUPPORTED_MEDIA_TYPE,
            f"send {FLATTENED_MEDIA_TYPE} (flattened JWS) or {COMPACT_MEDIA_TYPE} (compact JWS), not {media_type}",
        )
    body = await read_body(request, services.settings.max_body_bytes, services.settings.body_timeout)
    return _accepted(await services.intake.submit(body, media_type))


@routes.post("/v1/submissions:batch")
async def submit_batch(request: web.Request) -> web.Response:
    """Many JWS, one per line; each answered exactly as the single endpoint would, in order."""
    services = request.app[SERVICES]
    settings = services.settings
    if request.content_type != NDJSON:
        raise ExchangeError(Problems.UNSUPPORTED_MEDIA_TYPE, f"send {NDJSON}: one flattened or compact JWS per line")
    async with request.app[BATCH_SLOTS]:  # bounds the memory that batch bodies hold at once
        lines = await read_lines(request, settings.max_batch_bytes, settings.max_body_bytes, settings.body_timeout)
    if len(lines) > settings.max_batch_items:
        raise ExchangeError(
            Problems.BODY_TOO_LARGE, f"{len(lines)} items; a batch holds at most {settings.max_batch_items}"
        )

    async def one(number: int, line: bytes) -> dict[str, object]:
        media_type = media_type_of(sniff_serialization(line))
        try:
            receipt = await services.intake.submit(line.strip(), media_type)
        except ExchangeError as exc:
            return {"line": number, "status": exc.problem.status, "body": exc.to_problem()}
        except Exception:  # one item's fault never takes the answers of the others with it
            log.exception("unhandled error in a batch item")
            failure = ExchangeError(Problems.INTERNAL, "an internal error occurred")
            return {"line": number, "status": failure.problem.status, "body": failure.to_problem()}
        return {"line": number, "status": 202, "location": receipt.location, "body": receipt.body}

    results = await asyncio.gather(*(one(number, line) for number, line in lines))
    if _wants_one_document(request):
        return json_response({"results": results}, status=207)
    body = b"".join(ijson.dumps(result) + b"\n" for result in results)
    return web.Response(status=207, body=body, content_type=NDJSON)


def _wants_one_document(request: web.Request) -> bool:
    """``Accept: application/json`` (and not NDJSON) asks for the answers as one JSON document."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and NDJSON not in accept


@routes.get("/v1/submissions/{participant}/{submission_id}")
async def status(request: web.Request) -> web.Response:
    participant = request.match_info["participant"]
    token = await authenticate(request, "participant", "auditor", "editor")
    if token.role == "participant" and token.participant != participant:
        raise ExchangeError(Problems.FORBIDDEN, f"this token may read only {token.participant}'s submissions")
    services = request.app[SERVICES]
    sid = request.match_info["submission_id"].lower()
    state = await services.repository.get_submission(participant, sid)
    if state is None and services.relay is not None:  # perhaps one this node relays to an upstream
        entry = await services.relay.outbox.get(participant, sid)
        if entry is not None:
            return json_response(services.relay.status(entry))
    if state is None:
        raise ExchangeError(Problems.NOT_FOUND, "no such submission")
    return json_response(state.as_dict())


@routes.get("/v1/submissions/{participant}/{submission_id}/jws")
async def stored_jws(request: web.Request) -> web.StreamResponse:
    """The stored JWS bytes, unchanged; public once the submission is accepted."""
    repository: Submissions = request.app[SERVICES].repository
    participant, sid = request.match_info["participant"], request.match_info["submission_id"].lower()
    state = await repository.get_submission(participant, sid)
    stored = await repository.get_submission_body(participant, sid)
    if state is None or stored is None or state.status != "accepted" or await _hidden(request, state):
        return problem_response(ExchangeError(Problems.NOT_FOUND, "no accepted submission with that id"), request.path)
    body, serialization = stored
    return web.Response(
        body=body,
        content_type=media_type_of("compact" if serialization == "compact" else "flattened"),
        headers={"ETag": f'"{state.jws_sha256}"'},
    )


@routes.get("/v1/submissions/{participant}/{submission_id}/receipt")
async def receipt(request: web.Request) -> web.Response:
    """Proof that the submission's outcome sits in the log: public once accepted, else with a token."""
    services = request.app[SERVICES]
    participant, sid = request.match_info["participant"], request.match_info["submission_id"].lower()
    state = await services.repository.get_submission(participant, sid)
    if state is not None and state.status != "accepted":
        token = await authenticate(request, "participant", "auditor", "editor")
        if token.role == "participant" and token.participant != participant:
            raise ExchangeError(Problems.FORBIDDEN, f"this token may read only {token.participant}'s submissions")
    if state is None or await _hidden(request, state):
        raise ExchangeError(Problems.NOT_FOUND, "no such submission")
    return json_response(await services.log.receipt(state))


async def _hidden(request: web.Request, state: SubmissionState) -> bool:
    """The submission made (or names, unchanged) a record version the reader may not see."""
    if state.status != "accepted" or state.record is None or state.version is None:
        return False
    participant, kind, record_id = state.record.split("/", 2)
    version = await request.app[SERVICES].repository.get_version(RecordKey(participant, kind, record_id), state.version)
    return version is not None and not (await viewer(request)).may_see(version.visibility, version.readers)
