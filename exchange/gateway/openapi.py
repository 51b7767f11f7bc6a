"""The OpenAPI 3.1 description of the HTTP API (a test checks it names every route)."""

from __future__ import annotations

from typing import Any

from exchange import __version__
from exchange.errors import Problems
from exchange.identifiers import FLATTENED_MEDIA_TYPE

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_JSON = {"application/json": {"schema": {"type": "object"}}}
#: A query value: control characters (NUL above all) are refused with a 422 before any handler runs.
_TEXT = {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f]*$"}


def _op(
    summary: str,
    *,
    ok: str = "200",
    security: str | None = None,
    body: str | None = None,
    params: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {ok: {"description": "success", "content": _JSON}, "default": _PROBLEM},
    }
    for status in errors:
        op["responses"][str(status)] = _PROBLEM
    if security:
        op["security"] = [{"bearer": []}]
        op["description"] = f"Needs a bearer token with role {security}."
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {body: {"schema": {"type": "object" if "json" in body else "string"}}},
        }
    if params:
        op["parameters"] = [{"name": p, "in": "query", "schema": _TEXT} for p in params]
    return op


def _path(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def openapi_document(origin: str) -> dict[str, Any]:
    sub = "/v1/submissions/{participant}/{submission_id}"
    rec = "/v1/records/{participant}/{kind}/{record_id}"
    paths: dict[str, Any] = {
        "/v1/submissions": {
            "post": _op(
                "Submit one signed record (flattened JSON or compact JWS)",
                ok="202",
                body=FLATTENED_MEDIA_TYPE,
                errors=(400, 401, 409, 413, 415, 422, 429, 503),
            )
        },
        "/v1/submissions:batch": {
            "post": {
                **_op(
                    "Submit many signed records, one JWS per line; one result per line, in order",
                    ok="207",
                    body="application/x-ndjson",
                    errors=(413, 415),
                ),
                "description": (
                    "Lines are numbered from 1, blank lines included; each non-blank line gets one result "
                    "{line, status, location?, body}, where body is what POST /v1/submissions would answer. "
                    "The answer is NDJSON, one result per line in input order; with Accept: application/json "
                    "it is one document {results: [...]}."
                ),
                "responses": {
                    "207": {
                        "description": "one result per non-blank input line",
                        "content": {
                            "application/x-ndjson": {"schema": {"type": "object"}},
                            "application/json": {"schema": {"type": "object"}},
                        },
                    },
                    "default": _PROBLEM,
                    "413": _PROBLEM,
                    "415": _PROBLEM,
                },
            }
        },
        sub: {
            "parameters": _path("participant", "submission_id"),
            "get": _op(
                "A submission's status: received, accepted or rejected with every error",
                security="participant, auditor or admin",
                errors=(401, 403, 404),
            ),
        },
        f"{sub}/jws": {
            "parameters": _path("participant", "submission_id"),
            "get": _op("The stored JWS, byte for byte, once accepted", errors=(404,)),
        },
        f"{sub}/receipt": {
            "parameters": _path("participant", "submission_id"),
            "get": _op(
                "Receipt: {log_index, entry, inclusion_proof, checkpoint}, verifiable offline; "
                "public once accepted, else with a participant or auditor token",
                errors=(401, 403, 404),
            ),
        },
        "/v1/log/checkpoint": {
            "get": {
                "summary": "The newest signed checkpoint (C2SP tlog-checkpoint signed note)",
                "responses": {
                    "200": {"description": "the note", "content": {"text/plain": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/witness/add-checkpoint": {
            "post": {
                "summary": "Cosign another log's checkpoint (C2SP tlog-witness): old size, proof lines, checkpoint",
                "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": {
                        "description": "cosignature/v1 signature lines",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "409": {
                        "description": "the size last cosigned (text/x.tlog.size), or a conflicting root",
                        "content": {"text/x.tlog.size": {"schema": {"type": "string"}}},
                    },
                    **{
                        str(status): {"description": text}
                        for status, text in (
                            (400, "malformed body, or old size above the checkpoint's size"),
                            (403, "no trusted signature of the log verifies"),
                            (404, "a log this node does not witness"),
                            (422, "the consistency proof does not verify"),
                        )
                    },
                },
            }
        },
        "/v1/log/checkpoints": {"get": _op("Every signed checkpoint after a size", params=("after",))},
        "/v1/log/entries": {
            "get": _op(
                "Log entries (base64 of the exact canonical JSON), at most 1000", params=("start", "end"), errors=(422,)
            )
        },
        "/v1/log/proof/inclusion": {
            "get": _op("RFC 9162 inclusion proof (standard base64 hashes)", params=("index", "size"), errors=(422,))
        },
        "/v1/log/proof/consistency": {
            "get": _op("RFC 9162 consistency proof between two sizes", params=("old", "new"), errors=(422,))
        },
        "/v1/changes": {
            "get": {
                **_op(
                    "The change feed: accepted record versions in seq order, from `since` (exclusive); "
                    "feed=longpoll waits up to `timeout` seconds for the first change; feed=eventsource streams "
                    "Server-Sent Events (id = seq, resumable with Last-Event-ID)",
                    params=("since", "limit", "kind", "participant", "jurisdiction", "include", "feed", "timeout"),
                    errors=(304, 422),
                )
            }
        },
        "/v1/subscriptions": {
            "post": _op(
                "Create a webhook subscription {url, filter: {kinds, participants, jurisdictions}, since}; "
                "a verification of intent (GET url?challenge=…) activates it; the secret is shown once",
                ok="201",
                security="subscriber",
                body="application/json",
                errors=(401, 403, 422),
            ),
            "get": _op("Your webhook subscriptions", security="subscriber"),
        },
        "/v1/subscriptions/{id}": {
            "parameters": _path("id"),
            "get": _op("One subscription, with its cursor and failure state", security="subscriber", errors=(404,)),
            "delete": _op("Delete a subscription", ok="204", security="subscriber"),
        },
        "/v1/subscriptions/{id}/pause": {
            "parameters": _path("id"),
            "post": _op("Pause deliveries (the cursor is kept)", security="subscriber"),
        },
        "/v1/subscriptions/{id}/resume": {
            "parameters": _path("id"),
            "post": _op("Resume deliveries from the cursor", security="subscriber"),
        },
        "/v1/subscriptions/{id}/rotate": {
            "parameters": _path("id"),
            "post": _op("New secret (shown once); both sign during the overlap", security="subscriber"),
        },
        "/v1/subscriptions/{id}/replay": {
            "parameters": _path("id"),
            "post": _op("Deliver again from a seq {since}", security="subscriber", body="application/json"),
        },
        "/v1/subscriptions/{id}/deliveries": {
            "parameters": _path("id"),
            "get": _op("The delivery log: status codes and latencies", security="subscriber"),
        },
        "/v1/records": {
            "get": _op(
                "Current records, filtered, with cursor pagination",
                params=(
                    "kind",
                    "participant",
                    "jurisdiction",
                    "region",
                    "tag",
                    "status",
                    "q",
                    "instrument",
                    "article",
                    "from",
                    "to",
                    "cursor",
                    "limit",
                ),
                errors=(422,),
            )
        },
        rec: {
            "parameters": _path("participant", "kind", "record_id"),
            "get": _op("The current version of a record (ETag, If-None-Match)", errors=(304, 404, 410)),
        },
        f"{rec}/versions": {
            "parameters": _path("participant", "kind", "record_id"),
            "get": _op("Every version of a record, with provenance", errors=(404,)),
        },
        f"{rec}/versions/{{version}}": {
            "parameters": _path("participant", "kind", "record_id", "version"),
            "get": _op("One version of a record", errors=(404,)),
        },
        "/v1/participants": {"get": _op("The registered participants")},
        "/v1/coverage": {
            "get": _op(
                "Coverage of each State's laws against an instrument's articles (JSON, or CSV with format=csv)",
                params=("instrument", "region", "as_of", "format"),
                errors=(422,),
            )
        },
        "/v1/coverage/{iso3}": {
            "parameters": _path("iso3"),
            "get": _op(
                "One State's coverage, with the provisions behind each article",
                params=("instrument", "as_of", "format"),
                errors=(404, 422),
            ),
        },
        "/v1/report": {
            "get": _op(
                "The periodic report: records added and updated, coverage change, needs and activities",
                params=("from", "to", "format"),
                errors=(422,),
            )
        },
        "/v1/coordination": {
            "get": _op(
                "A State's needs, the activities answering them, unmet needs, gaps and possible duplications",
                params=("jurisdiction",),
                errors=(422,),
            )
        },
        "/v1/keys": {
            "get": _op(
                "The key directory: a JWKS with participant, status and validity times",
                params=("participant",),
            )
        },
        "/v1/info": {"get": _op("Origin, the repository's public keys, limits and schemas")},
        "/v1/schemas/{kind}/{version}": {
            "parameters": _path("kind", "version"),
            "get": _op("A record JSON Schema", errors=(404,)),
        },
        "/v1/vocabularies": {"get": _op("Controlled vocabularies checked on every submission")},
        "/v1/openapi.json": {"get": _op("This document")},
        "/healthz": {"get": _op("Liveness")},
        "/readyz": {"get": _op("Readiness: database and queue reachable", errors=(503,))},
        "/metrics": {
            "get": {
                **_op("Metrics in the Prometheus text format", security="auditor or admin", errors=(401, 403)),
                "responses": {
                    "200": {"description": "success", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "401": _PROBLEM,
                    "403": _PROBLEM,
                    "default": _PROBLEM,
                },
            }
        },
        "/v1/audit/submissions": {
            "get": _op(
                "Decided submissions in log order, filtered; `next` is the `after` of the next page",
                security="auditor or admin",
                params=("participant", "kid", "outcome", "from", "to", "after", "limit"),
                errors=(401, 403, 422),
            )
        },
        "/v1/audit/records/{participant}/{kind}/{record_id}/versions/{version}": {
            "parameters": _path("participant", "kind", "record_id", "version"),
            "get": _op(
                "A record version's provenance: the version, its submission and stored JWS, the key as "
                "registered, the log entry and a receipt",
                security="auditor or admin",
                errors=(401, 403, 404),
            ),
        },
        "/v1/audit/export": {
            "get": {
                **_op(
                    "The whole history, streamed: NDJSON (submissions in log order, then record versions, "
                    "then an end line) or W3C PROV-JSON",
                    security="auditor or admin",
                    params=("format",),
                    errors=(401, 403, 422),
                ),
                "responses": {
                    "200": {
                        "description": "the export, chunked",
                        "content": {
                            "application/x-ndjson": {"schema": {"type": "string"}},
                            "application/json": {"schema": {"type": "object"}},
                        },
                    },
                    "401": _PROBLEM,
                    "403": _PROBLEM,
                    "422": _PROBLEM,
                    "default": _PROBLEM,
                },
            }
        },
        "/v1/admin/participants": {
            "post": _op(
                "Register a participant",
                ok="201",
                security="admin",
                body="application/json",
                errors=(401, 403, 409, 422),
            )
        },
        "/v1/admin/keys": {
            "post": _op(
                "Register a public key (PEM or JWK)",
                ok="201",
                security="admin",
                body="application/json",
                errors=(401, 403, 404, 409, 422),
            )
        },
        "/v1/admin/keys/{participant}/{label}/revoke": {
            "parameters": _path("participant", "label"),
            "post": _op("Revoke a key", security="admin", body="application/json", errors=(404, 409)),
        },
        "/v1/admin/tokens": {
            "get": _op("List API tokens (never their secrets)", security="admin"),
            "post": _op(
                "Create an API token; the secret is shown once",
                ok="201",
                security="admin",
                body="application/json",
                errors=(404, 422),
            ),
        },
        "/v1/admin/tokens/{token_id}": {
            "parameters": _path("token_id"),
            "delete": _op("Revoke an API token", ok="204", security="admin"),
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
                    "content": {
                        "application/problem+json": {
                            "schema": {
                                "type": "object",
                                "required": ["type", "title", "status", "detail"],
                                "properties": {
                                    "type": {"enum": [p.type for p in Problems.all()]},
                                    "title": {"type": "string"},
                                    "status": {"type": "integer"},
                                    "detail": {"type": "string"},
                                    "instance": {"type": "string"},
                                    "errors": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
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
                    },
                }
            },
        },
    }
