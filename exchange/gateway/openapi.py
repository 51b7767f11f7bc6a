"""The OpenAPI 3.1 description of the HTTP API, exact to what the service accepts and answers.

Every parameter and body is described as the handlers check it: types, ranges, enums (kinds,
instruments, countries, regions, formats), required members, the media types really sent and
answered. What a JSON Schema cannot say (a rule across two parameters, or against the repository's
state) is written in the operation's description and answered with a 422 naming the parameter.
``tests/e2e/test_openapi_fuzz.py`` holds the service to this document with schemathesis, every check on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exchange import __version__
from exchange.errors import Problems
from exchange.gateway.query import MAX_SAFE, MAX_VERSION
from exchange.identifiers import (
    COMPACT_MEDIA_TYPE,
    FLATTENED_MEDIA_TYPE,
    KID,
    KINDS,
    PARTICIPANT_ID_PATTERN,
    RECORD_ID_PATTERN,
)
from exchange.models import PARTICIPANT_TYPES, ROLES
from exchange.validation.validator import Validator
from exchange.webhooks import URI_CHARACTERS

NDJSON = "application/x-ndjson"
_PROBLEM = {"$ref": "#/components/responses/Problem"}
_BAD_REQUEST = {"$ref": "#/components/responses/BadRequest"}
_PROBLEM_CONTENT = {
    "application/problem+json": {
        "schema": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"enum": [p.type for p in Problems.all()]},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["pointer", "rule", "message"],
                        "properties": {
                            "pointer": {"type": "string"},
                            "rule": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    }
}
_OBJECT = {"type": "object"}
#: Free text in a query value or body: control characters (NUL above all) are refused with a 422.
_TEXT = {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f]*$"}
_NONEMPTY = {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f]+$"}
#: Text with at least one character that is not white space.
_WORDS = {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f][^\\x00-\\x1f\\x7f]*$"}
_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_SAFE}
_DATE = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_DATE_TIME = {
    "type": "string",
    "format": "date-time",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
    "description": "RFC 3339 with an offset, like 2026-01-31T00:00:00Z",
}
_BASE64URL = "^[A-Za-z0-9_-]*$"


def _digits_up_to(limit: int) -> str:
    """A pattern for the decimal numbers 0…limit, leading zeros allowed, at most as many digits as limit."""
    text = str(limit)
    branches = [f"[0-9]{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        if digit != "0":
            rest = len(text) - i - 1
            branches.append(f"{text[:i]}[0-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    branches.append(text)
    return f"^(?:{'|'.join(branches)})$"


def _json(schema: Mapping[str, Any] | None = None, media_type: str = "application/json") -> dict[str, Any]:
    return {media_type: {"schema": dict(schema or _OBJECT)}}


def _text(*media_types: str) -> dict[str, Any]:
    return {m: {"schema": {"type": "string"}} for m in media_types}


#: The roles of a read that shows what its reader may see (README, "Visibility").
_READER = (
    "any, or none: without a token only public versions are shown; with one, also those for participants "
    "and the restricted ones its holder may read"
)


def _op(
    summary: str,
    *,
    ok: str = "200",
    content: dict[str, Any] | None = None,
    security: str | None = None,
    optional_auth: bool = False,
    body: dict[str, Any] | None = None,
    params: Iterable[dict[str, Any]] = (),
    errors: Iterable[int] = (),
    description: str | None = None,
) -> dict[str, Any]:
    """One operation: ``ok`` answers ``content`` (JSON by default, nothing for 204), errors are problems."""
    success: dict[str, Any] = {"description": "success"}
    if ok != "204":
        success["content"] = content if content is not None else _json()
    op: dict[str, Any] = {"summary": summary, "responses": {ok: success, "400": _BAD_REQUEST, "default": _PROBLEM}}
    for status in errors:
        op["responses"][str(status)] = {"description": "not modified"} if status == 304 else _PROBLEM
    notes = [description] if description else []
    if security:
        op["security"] = [{}, {"bearer": []}] if optional_auth else [{"bearer": []}]
        op["responses"].setdefault("401", _PROBLEM)
        op["responses"].setdefault("403", _PROBLEM)
        notes.append(f"Needs a bearer token with role {security}.")
    if notes:
        op["description"] = " ".join(notes)
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
        for status in (413, 415, 422):
            op["responses"].setdefault(str(status), _PROBLEM)
    params = list(params)
    if params:
        op["parameters"] = params
        op["responses"].setdefault("422", _PROBLEM)
    return op


def _query(name: str, schema: Mapping[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "in": "query", "description": description, "schema": dict(schema)}
    if required:
        found["required"] = True
    if schema.get("type") == "array":  # repeatable, and comma-separated values are split
        found.update(style="form", explode=False)
        found["schema"]["minItems"] = 1
    return found


def _path(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": dict(_PATH[n])} for n in names]


def _body(properties: dict[str, Any], required: Iterable[str] = (), nullable: Iterable[str] = ()) -> dict[str, Any]:
    """A JSON object body: members other than ``properties`` are refused with a 422 naming them.

    A ``nullable`` member given as null is taken as left out.
    """
    nulls = set(nullable)
    members = {
        name: {"anyOf": [schema, {"type": "null"}]} if name in nulls else schema for name, schema in properties.items()
    }
    return _json({"type": "object", "properties": members, "required": list(required), "additionalProperties": False})


def _strings(items: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": dict(items)}


_PATH: dict[str, dict[str, Any]] = {
    "participant": {"type": "string", "pattern": PARTICIPANT_ID_PATTERN},
    "kind": {"enum": list(KINDS)},
    "record_id": {"type": "string", "pattern": RECORD_ID_PATTERN},
    "version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
    "submission_id": {"type": "string", "format": "uuid"},
    "label": {"type": "string", "pattern": "^" + KID.pattern.split("/", 1)[1]},
    "id": {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f/]+$"},
    "token_id": {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f/]+$"},
    "iso3": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "schema_kind": {"type": "string", "pattern": "^[a-z]+$"},
    "schema_version": {"type": "string", "pattern": "^[0-9]+$"},
}


def openapi_document(origin: str, validator: Validator, coverage_instruments: Iterable[str]) -> dict[str, Any]:
    """The document for the service at ``origin``, with the enums of its vocabularies."""
    vocabularies = validator.vocabularies
    countries = sorted(validator.countries["countries"])
    region_values = sorted(
        {
            *validator.countries["regions"],
            *(n for entry in validator.countries["regions"].values() for n in entry.get("name", {}).values()),
        }
    )
    instruments = sorted(i["id"] for i in vocabularies["instruments"])
    with_articles = sorted(coverage_instruments)
    kinds = {"enum": list(KINDS)}
    participant_id = {"type": "string", "pattern": PARTICIPANT_ID_PATTERN}
    country = {"enum": countries}
    region = _query(
        "region",
        {"enum": region_values},
        "A UN M49 area: its code (150) or its name in any of the six languages (Europe, any case)",
    )
    record_filters = [
        _query("kind", kinds, "Records of this kind"),
        _query("participant", _NONEMPTY, "Records of this participant (a State's ISO 3166-1 alpha-3 code, or org:…)"),
        _query("jurisdiction", _NONEMPTY, "Records that apply to this jurisdiction (ISO 3166-1 alpha-3)"),
        region,
        _query("tag", _NONEMPTY, "Records carrying this vocabulary term"),
        _query("status", _NONEMPTY, "Records with this legal status (in_force, repealed, …)"),
        _query("q", _NONEMPTY, "Full-text search over titles and text"),
        _query("instrument", {"enum": instruments}, "Records with provisions mapped to this instrument"),
        _query(
            "article",
            _NONEMPTY,
            "With instrument: records with provisions mapped to this catalogued article of it (a 422 otherwise)",
        ),
        _query(
            "from",
            _DATE,
            "Records dated on or after this day: a law's adoption date (else publication, else entry into force), "
            "a case's decision date, a lesson's date",
        ),
        _query("to", _DATE, "Records dated on or before this day (the same date as from)"),
        _query(
            "cursor",
            {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "contentEncoding": "base64url"},
            "The next page: the `next` of the previous answer, opaque (a value this server did not issue is a 422)",
        ),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "Records per page (default 50)"),
    ]
    changes_params = [
        _query("since", _COUNT, "Changes after this seq (exclusive; default 0)"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Changes per page (default 100)"),
        _query("kind", _strings(kinds), "Only changes of these kinds (repeatable or comma-separated)"),
        _query("participant", _strings(_NONEMPTY), "Only changes by these participants"),
        _query("jurisdiction", _strings(_NONEMPTY), "Only changes applying to these jurisdictions"),
        _query(
            "include",
            _strings({"enum": ["record", "jws"]}),
            "Embed each change's record content and/or stored JWS",
        ),
        _query(
            "feed",
            {"enum": ["normal", "longpoll", "eventsource"]},
            "normal answers at once; longpoll waits up to timeout seconds for a first change; eventsource streams "
            "Server-Sent Events (id = seq) until the client goes, resumable with Last-Event-ID",
        ),
        _query("timeout", {"type": "number", "minimum": 0, "maximum": 120}, "longpoll: seconds to wait (default 30)"),
        {
            "name": "Last-Event-ID",
            "in": "header",
            "description": "eventsource: resume after this seq (replaces since)",
            "schema": {"type": "string", "pattern": _digits_up_to(MAX_SAFE)},
        },
    ]
    format_json_csv = _query("format", {"enum": ["json", "csv"]}, "json (default) or csv (also by Accept: text/csv)")
    as_of = _query(
        "as_of", _COUNT, "Answer as the repository stood at this seq of the change feed (beyond its end: a 422)"
    )
    sub = "/v1/submissions/{participant}/{submission_id}"
    rec = "/v1/records/{participant}/{kind}/{record_id}"
    jws_body = {
        FLATTENED_MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "properties": {
                    name: {"type": "string", "pattern": _BASE64URL} for name in ("protected", "payload", "signature")
                },
                "required": ["protected", "payload", "signature"],
                "additionalProperties": False,
            }
        },
        COMPACT_MEDIA_TYPE: {
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"}
        },
    }
    paths: dict[str, Any] = {
        "/v1/submissions": {
            "post": _op(
                "Submit one signed record (flattened JSON or compact JWS)",
                ok="202",
                body=jws_body,
                errors=(401, 409, 429, 503),
                description=(
                    "The JWS must verify with a registered key of the participant its kid names, and its payload "
                    "must meet the submission schema: a body of the right shape that does not is a 400 or 422 "
                    "naming the rule."
                ),
            )
        },
        "/v1/submissions:batch": {
            "post": _op(
                "Submit many signed records, one JWS per line; one result per line, in order",
                ok="207",
                body=_text(NDJSON),
                content={**_json(media_type=NDJSON), **_json()},
                description=(
                    "Lines are numbered from 1, blank lines included; each non-blank line gets one result "
                    "{line, status, location?, body}, where body is what POST /v1/submissions would answer. "
                    "The answer is NDJSON, one result per line in input order; with Accept: application/json "
                    "it is one document {results: [...]}."
                ),
            )
        },
        sub: {
            "parameters": _path("participant", "submission_id"),
            "get": _op(
                "A submission's status: received, accepted, rejected with every error, pending_review or "
                "returned; on a relay hub, relaying, forwarded (with the upstream's acknowledgment) or refused",
                security="participant (its own), auditor, editor or admin",
                errors=(404,),
            ),
        },
        f"{sub}/jws": {
            "parameters": _path("participant", "submission_id"),
            "get": _op(
                "The stored JWS, byte for byte, once accepted",
                content=_text(FLATTENED_MEDIA_TYPE, COMPACT_MEDIA_TYPE),
                security=_READER,
                optional_auth=True,
                errors=(404,),
            ),
        },
        f"{sub}/receipt": {
            "parameters": _path("participant", "submission_id"),
            "get": _op(
                "Receipt: {log_index, entry, inclusion_proof, checkpoint}, verifiable offline",
                security="participant (its own), auditor, editor or admin, unless the submission was accepted "
                "(then any reader who may see the version it made)",
                optional_auth=True,
                errors=(404,),
            ),
        },
        "/v1/log/checkpoint": {
            "get": _op("The newest signed checkpoint (C2SP tlog-checkpoint signed note)", content=_text("text/plain"))
        },
        "/witness/add-checkpoint": {
            "post": {
                **_op(
                    "Cosign another log's checkpoint (C2SP tlog-witness): old size, proof lines, checkpoint",
                    body=_text("text/plain"),
                    content=_text("text/plain"),
                    errors=(403, 404),
                    description=(
                        "400: a malformed body, or an old size above the checkpoint's; 403: no trusted signature "
                        "of the log verifies; 404: a log this node does not witness; 422: the consistency proof "
                        "does not verify."
                    ),
                ),
            }
        },
        "/v1/log/checkpoints": {
            "get": _op(
                "Every signed checkpoint with a size above after, smallest first (at most 1000)",
                params=[_query("after", _COUNT, "Checkpoints of a larger size than this (default 0)")],
            )
        },
        "/v1/log/entries": {
            "get": _op(
                "Log entries start ≤ index < end (base64 of the exact canonical JSON), at most 1000",
                params=[
                    _query("start", _COUNT, "The first index", required=True),
                    _query("end", _COUNT, "The index after the last (default and at most start + 1000)"),
                ],
            )
        },
        "/v1/log/proof/inclusion": {
            "get": _op(
                "RFC 9162 inclusion proof (standard base64 hashes)",
                params=[
                    _query("index", _COUNT, "The entry's index, below size", required=True),
                    _query("size", _COUNT, "The tree size: at least 1, at most the log's size", required=True),
                ],
                description="index must lie below size, and size within the log (a 422 otherwise).",
            )
        },
        "/v1/log/proofs/inclusion": {
            "get": _op(
                "RFC 9162 inclusion proofs of up to 1000 entries in one tree: {size, root, proofs: [{index, proof}]}",
                params=[
                    _query(
                        "index",
                        {**_strings(_COUNT), "maxItems": 1000},
                        "The entries' indexes, each below size (repeatable or comma-separated)",
                        required=True,
                    ),
                    _query("size", _COUNT, "The tree size: at least 1, at most the log's size", required=True),
                ],
                description="Every index must lie below size, and size within the log (a 422 otherwise).",
            )
        },
        "/v1/log/proof/consistency": {
            "get": _op(
                "RFC 9162 consistency proof between two sizes",
                params=[
                    _query("old", _COUNT, "The older tree size, at least 1", required=True),
                    _query("new", _COUNT, "The newer tree size, at most the log's size", required=True),
                ],
                description="1 ≤ old ≤ new ≤ the log's size (a 422 otherwise).",
            )
        },
        "/v1/changes": {
            "get": _op(
                "The change feed: accepted record versions in seq order, from since (exclusive); a change the "
                'reader may not see is {"seq": N, "hidden": true}',
                params=changes_params,
                content={**_json(), **_text("text/event-stream")},
                security=_READER,
                optional_auth=True,
                errors=(304,),
            )
        },
        "/v1/subscriptions": {
            "post": _op(
                "Create a webhook subscription; a verification of intent (GET url?challenge=…) activates it; "
                "the secret is shown once",
                ok="201",
                security="subscriber",
                body=_body(
                    {
                        "url": {
                            "type": "string",
                            "format": "uri",
                            "pattern": "^https?://" + URI_CHARACTERS.pattern + "$",
                        },
                        "filter": {
                            "type": "object",
                            "properties": {
                                name: {"anyOf": [_strings(items), {"type": "null"}]}
                                for name, items in (("kinds", kinds), ("participants", _TEXT), ("jurisdictions", _TEXT))
                            },
                            "additionalProperties": False,
                        },
                        "since": _COUNT,
                    },
                    required=("url",),
                    nullable=("filter",),
                ),
                description=(
                    "url must be https (http only where the operator allows private receivers) and resolve to a "
                    "public address (a 422 otherwise); since defaults to the current end of the feed."
                ),
            ),
            "get": _op("Your webhook subscriptions", security="subscriber"),
        },
        "/v1/subscriptions/{id}": {
            "parameters": _path("id"),
            "get": _op("One subscription, with its cursor and failure state", security="subscriber", errors=(404,)),
            "delete": _op("Delete a subscription", ok="204", security="subscriber", errors=(404,)),
        },
        "/v1/subscriptions/{id}/pause": {
            "parameters": _path("id"),
            "post": _op("Pause deliveries (the cursor is kept)", security="subscriber", errors=(404, 409)),
        },
        "/v1/subscriptions/{id}/resume": {
            "parameters": _path("id"),
            "post": _op("Resume deliveries from the cursor", security="subscriber", errors=(404, 409)),
        },
        "/v1/subscriptions/{id}/rotate": {
            "parameters": _path("id"),
            "post": _op(
                "New secret (shown once); both sign during the overlap", security="subscriber", errors=(404, 409)
            ),
        },
        "/v1/subscriptions/{id}/replay": {
            "parameters": _path("id"),
            "post": _op(
                "Deliver again from a seq (exclusive)",
                security="subscriber",
                body=_body({"since": _COUNT}, required=("since",)),
                errors=(404,),
            ),
        },
        "/v1/subscriptions/{id}/deliveries": {
            "parameters": _path("id"),
            "get": _op("The delivery log: status codes and latencies", security="subscriber", errors=(404,)),
        },
        "/v1/records": {
            "get": _op(
                "Current records, filtered, with cursor pagination",
                params=record_filters,
                security=_READER,
                optional_auth=True,
                description="article needs instrument and must be one of its catalogued articles (a 422 otherwise).",
            )
        },
        rec: {
            "parameters": _path("participant", "kind", "record_id"),
            "get": _op(
                "The current version of a record (ETag, If-None-Match)",
                security=_READER,
                optional_auth=True,
                errors=(304, 404, 410),
            ),
        },
        f"{rec}/versions": {
            "parameters": _path("participant", "kind", "record_id"),
            "get": _op(
                "Every version of a record the reader may see, with provenance",
                security=_READER,
                optional_auth=True,
                errors=(404,),
            ),
        },
        f"{rec}/versions/{{version}}": {
            "parameters": _path("participant", "kind", "record_id", "version"),
            "get": _op("One version of a record", security=_READER, optional_auth=True, errors=(404,)),
        },
        "/v1/participants": {"get": _op("The registered participants")},
        "/v1/coverage": {
            "get": _op(
                "Coverage of each State's laws against an instrument's articles (JSON, or CSV)",
                params=[
                    _query(
                        "instrument",
                        {"enum": with_articles},
                        "An instrument whose articles are catalogued",
                        required=True,
                    ),
                    region,
                    as_of,
                    format_json_csv,
                ],
                content={**_json(), **_text("text/csv")},
            )
        },
        "/v1/coverage/{iso3}": {
            "parameters": _path("iso3"),
            "get": _op(
                "One State's coverage, with the provisions behind each article",
                params=[
                    _query("instrument", {"enum": with_articles}, "Only this instrument (default: every one)"),
                    as_of,
                    format_json_csv,
                ],
                content={**_json(), **_text("text/csv")},
                errors=(404,),
            ),
        },
        "/v1/report": {
            "get": _op(
                "The periodic report: records added and updated, coverage change, needs and activities",
                params=[
                    _query("from", _DATE, "The first day of the period", required=True),
                    _query("to", _DATE, "The last day of the period, not before from (a 422 otherwise)", required=True),
                    _query("format", {"enum": ["json", "md", "csv", "html"]}, "json (default), md, csv or html"),
                ],
                content={**_json(), **_text("text/markdown", "text/csv", "text/html")},
            )
        },
        "/v1/coordination": {
            "get": _op(
                "A State's needs, the activities answering them, unmet needs, gaps and possible duplications",
                params=[_query("jurisdiction", country, "The State (ISO 3166-1 alpha-3)", required=True)],
            )
        },
        "/v1/keys": {
            "get": _op(
                "The key directory: a JWKS with participant, status and validity times",
                params=[_query("participant", _NONEMPTY, "Only this participant's keys")],
            )
        },
        "/v1/info": {"get": _op("Origin, the repository's public keys, limits and schemas")},
        "/v1/schemas/{kind}/{version}": {
            "parameters": [
                {"name": "kind", "in": "path", "required": True, "schema": _PATH["schema_kind"]},
                {"name": "version", "in": "path", "required": True, "schema": _PATH["schema_version"]},
            ],
            "get": _op(
                "A JSON Schema: a record kind's (law/1, …), defs/1 or submission/1",
                content=_json(media_type="application/schema+json"),
                errors=(404,),
            ),
        },
        "/v1/vocabularies": {"get": _op("Controlled vocabularies checked on every submission")},
        "/v1/openapi.json": {"get": _op("This document")},
        "/healthz": {"get": _op("Liveness")},
        "/readyz": {"get": _op("Readiness: database and queue reachable", errors=(503,))},
        "/metrics": {
            "get": _op(
                "Metrics in the Prometheus text format",
                security="auditor or admin",
                content=_text("text/plain"),
            )
        },
        "/v1/audit/submissions": {
            "get": _op(
                "Decided submissions in log order, filtered; next is the after of the next page",
                security="auditor or admin",
                params=[
                    _query("participant", _NONEMPTY, "Only this participant's submissions"),
                    _query("kid", _NONEMPTY, "Only those signed with this key id"),
                    _query(
                        "outcome",
                        {"enum": ["accepted", "rejected", "pending_review", "returned"]},
                        "Only submissions with this status now",
                    ),
                    _query("from", _DATE_TIME, "Received at or after this instant"),
                    _query("to", _DATE_TIME, "Received at or before this instant"),
                    _query("after", {"type": "integer", "minimum": -1, "maximum": MAX_SAFE}, "After this log index"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Per page (default 100)"),
                ],
            )
        },
        "/v1/reviews": {
            "get": _op(
                "Submissions held for review (or returned), oldest first, each with the record it would publish "
                "and the record's current version; next is the after of the next page",
                security="editor or admin",
                params=[
                    _query("status", {"enum": ["pending_review", "returned"]}, "pending_review (default) or returned"),
                    _query("participant", _NONEMPTY, "Only this participant's submissions"),
                    _query("after", {"type": "integer", "minimum": -1, "maximum": MAX_SAFE}, "After this log index"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Per page (default 50)"),
                ],
                description=(
                    "An editor decides with a signed approve or return submitted to POST /v1/submissions "
                    "(exchange review approve|return)."
                ),
            )
        },
        "/v1/reviews/{participant}/{submission_id}": {
            "parameters": _path("participant", "submission_id"),
            "get": _op(
                "One submission held for review (or decided by a review), with the record it would publish",
                security="editor or admin",
                errors=(404,),
            ),
        },
        "/v1/audit/records/{participant}/{kind}/{record_id}/versions/{version}": {
            "parameters": _path("participant", "kind", "record_id", "version"),
            "get": _op(
                "A record version's provenance: the version, its submission and stored JWS, the key as "
                "registered, the log entry and a receipt",
                security="auditor or admin",
                errors=(404,),
            ),
        },
        "/v1/audit/export": {
            "get": _op(
                "The whole history, streamed: NDJSON (submissions in log order, then record versions, then an "
                "end line) or W3C PROV-JSON",
                security="auditor or admin",
                params=[_query("format", {"enum": ["ndjson", "prov"]}, "ndjson (default) or prov")],
                content={**_text(NDJSON), **_json()},
            )
        },
        "/v1/admin/participants": {
            "post": _op(
                "Register a participant",
                ok="201",
                security="admin",
                body=_body(
                    {
                        "id": participant_id,
                        "name": _WORDS,
                        "type": {"enum": list(PARTICIPANT_TYPES)},
                        "jurisdictions": _strings(country),
                    },
                    required=("id", "name", "type"),
                    nullable=("jurisdictions",),
                ),
                errors=(409,),
                description="A State's id is its ISO 3166-1 alpha-3 code; an organisation's is org:<slug>.",
            )
        },
        "/v1/admin/keys": {
            "post": _op(
                "Register a public key (PEM or JWK)",
                ok="201",
                security="admin",
                body=_body(
                    {
                        "kid": {"type": "string", "pattern": KID.pattern},
                        "public_key": {
                            "type": "string",
                            "pattern": "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]+$",
                            "description": "PEM (SubjectPublicKeyInfo)",
                        },
                        "jwk": {"type": "object", "description": "instead of public_key: an OKP or EC public JWK"},
                        "valid_from": _DATE_TIME,
                        "valid_until": _DATE_TIME,
                    },
                    required=("kid",),
                    nullable=("public_key", "jwk", "valid_from", "valid_until"),
                ),
                errors=(404, 409),
                description=(
                    "One of public_key and jwk: an Ed25519 or P-256 public key (other material is a 422); the "
                    "participant the kid names must be registered (a 404 otherwise)."
                ),
            )
        },
        "/v1/admin/keys/{participant}/{label}/revoke": {
            "parameters": _path("participant", "label"),
            "post": _op(
                "Revoke a key",
                security="admin",
                body=_body({"reason": _WORDS}, required=("reason",)),
                errors=(404, 409),
            ),
        },
        "/v1/admin/tokens": {
            "get": _op("List API tokens (never their secrets)", security="admin"),
            "post": _op(
                "Create an API token; the secret is shown once",
                ok="201",
                security="admin",
                body=_body(
                    {
                        "role": {"enum": list(ROLES)},
                        "participant": participant_id,
                        "label": _TEXT,
                        "expires_at": _DATE_TIME,
                    },
                    required=("role",),
                    nullable=("participant", "label", "expires_at"),
                ),
                errors=(404,),
                description=(
                    "participant and subscriber tokens belong to a registered participant; expires_at lies in "
                    "the future (a 422 otherwise)."
                ),
            ),
        },
        "/v1/admin/tokens/{token_id}": {
            "parameters": _path("token_id"),
            "delete": _op("Revoke an API token", ok="204", security="admin", errors=(404,)),
        },
        "/v1/admin/dead-letters": {"get": _op("Messages that could not be processed", security="admin")},
        "/v1/admin/dead-letters/{id}/retry": {
            "parameters": _path("id"),
            "post": _op("Send a dead letter back to the queue", ok="204", security="admin", errors=(404,)),
        },
        "/v1/admin/dead-letters/{id}": {
            "parameters": _path("id"),
            "delete": _op("Drop a dead letter", ok="204", security="admin", errors=(404,)),
        },
    }
    paths["/witness/add-checkpoint"]["post"]["responses"]["409"] = {
        "description": "the size last cosigned (exactly <size> and a newline), or a problem for a conflicting root",
        "content": {**_text("text/x.tlog.size"), **_PROBLEM_CONTENT},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "exchange",
            "version": __version__,
            "description": "Signed submissions of cybercrime laws, case law and lessons learned.",
        },
        "servers": [{"url": origin}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Problem": {
                    "description": "An RFC 9457 problem; `type` is one of the catalogue's URNs",
                    "content": _PROBLEM_CONTENT,
                },
                "BadRequest": {
                    "description": (
                        "A malformed request: a problem; or, from the HTTP parser itself, plain text when the "
                        "request line or a header is too long (over 8,190 bytes)"
                    ),
                    "content": {**_PROBLEM_CONTENT, **_text("text/plain")},
                },
            },
        },
    }
