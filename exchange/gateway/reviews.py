"""The review queue (editor token): submissions held for review, with the record they would publish.

Reading the queue needs an ``editor`` token; deciding is not done here but by the editor's own signed
``approve`` or ``return`` submitted to ``POST /v1/submissions`` (``exchange review approve|return``), so
that every review decision is signed with a registered key and logged.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exchange import ijson
from exchange.envelope import parse
from exchange.errors import ExchangeError, Problems
from exchange.gateway import query as qs
from exchange.gateway.appkeys import SERVICES
from exchange.gateway.auth import authenticate
from exchange.gateway.problems import json_response
from exchange.identifiers import KINDS, media_type_of
from exchange.models import AuditQuery, RecordKey, SubmissionState
from exchange.repository.port import Repository

routes = web.RouteTableDef()
#: The statuses a review listing shows: waiting for a decision, or sent back with comments.
REVIEW_STATUSES = ("pending_review", "returned")


def held_payload(body: bytes, serialization: str) -> dict[str, Any]:
    """The signed payload of stored JWS bytes (verified when they were received)."""
    jws = parse(body, media_type_of("compact" if serialization == "compact" else "flattened"))
    payload = ijson.loads(jws.payload_verified_on_receipt())
    return payload if isinstance(payload, dict) else {}


async def held_item(repository: Repository, state: SubmissionState, body: bytes, serialization: str) -> dict[str, Any]:
    """A submission under review as an editor reads it: its status, the record it would publish, and
    the record's current version (what an approval would replace)."""
    payload = held_payload(body, serialization)
    key = RecordKey(state.participant, str(payload.get("kind")), str(payload.get("record_id")))
    current = await repository.get_record(key) if payload.get("kind") in KINDS else None
    return {
        **state.as_dict(),
        "kind": payload.get("kind"),
        "record": str(key),
        "action": payload.get("action"),
        "schema": payload.get("schema"),
        "content": payload.get("record"),
        "base_version": payload.get("base_version"),
        "current": current.as_dict() if current is not None else None,
    }


@routes.get("/v1/reviews")
async def list_reviews(request: web.Request) -> web.Response:
    """Submissions held for review (or returned), oldest first; ``next`` is the ``after`` of the next page."""
    await authenticate(request, "editor")
    qs.only(request, {"status", "participant", "after", "limit"})
    status = request.query.get("status", "pending_review")
    if status not in REVIEW_STATUSES:
        raise qs.bad("status", f"status must be one of {', '.join(REVIEW_STATUSES)}")
    query = AuditQuery(
        participant=request.query.get("participant"),
        outcome=status,
        after=qs.integer(request, "after", -1, -1),
        limit=qs.integer(request, "limit", 50, 1, 200),
    )
    repository = request.app[SERVICES].repository
    found = await repository.audit_submissions(query)
    results = [await held_item(repository, s.state, s.body, s.serialization) for s in found]
    last = found[-1].state.log_index if len(found) == query.limit and found else None
    return json_response({"results": results, "next": last})


@routes.get("/v1/reviews/{participant}/{submission_id}")
async def show_review(request: web.Request) -> web.Response:
    """One submission under review (or already decided), with the record it would publish."""
    await authenticate(request, "editor")
    participant, sid = request.match_info["participant"], request.match_info["submission_id"].lower()
    repository = request.app[SERVICES].repository
    state = await repository.get_submission(participant, sid)
    stored = await repository.get_submission_body(participant, sid)
    if state is None or stored is None or (state.status not in REVIEW_STATUSES and state.review is None):
        raise ExchangeError(Problems.NOT_FOUND, "no submission held for review with that id")
    return json_response(await held_item(repository, state, *stored))
