"""What auditors read: decided submissions, the full provenance of a record version, and exports.

Everything here reads the repository through its port and knows nothing of HTTP:

* :func:`audit_page` lists decided submissions in log order, with an ``after`` cursor;
* :func:`provenance` gathers what an auditor needs to re-check one record version by hand: the
  version, its submission and stored JWS, the key as registered, the log entry and a receipt;
* :func:`export_ndjson` and :func:`export_prov` yield an export chunk by chunk, paging through the
  repository, so the whole log is never held in memory. The NDJSON export is what ``exchange verify``
  checks; the PROV export is the same history as a W3C PROV-JSON document.

An export is read page by page, not in one transaction: a submission decided while it runs may or may
not appear, but every line written is a committed, stored fact.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import replace
from typing import Any

from exchange import ijson, times
from exchange.errors import ExchangeError, Problems
from exchange.models import AuditedSubmission, AuditQuery, RecordKey, RecordVersion, SubmissionState
from exchange.repository.port import Audit, Registry, Repository
from exchange.transparency.service import TransparencyLog

PAGE = 500
"""Rows read from the repository per query while exporting."""

EXPORT_FORMAT = "exchange-audit-export/1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---- documents --------------------------------------------------------------------------------------


def submission_document(state: SubmissionState) -> dict[str, Any]:
    """A decided submission's status document, with the key id and payload digest it was judged by."""
    return {**state.as_dict(), "kind": state.kind, "kid": state.kid, "payload_sha256": state.payload_sha256}


def submission_line(item: AuditedSubmission) -> dict[str, Any]:
    """One ``submission`` line of the NDJSON export: the status document and the stored bytes."""
    return {
        "type": "submission",
        **submission_document(item.state),
        "jws": _b64(item.body),
        "serialization": item.serialization,
    }


def version_line(version: RecordVersion) -> dict[str, Any]:
    """One ``version`` line of the NDJSON export."""
    return {
        "type": "version",
        "participant": version.key.participant,
        "kind": version.key.kind,
        "record_id": version.key.record_id,
        "version": version.version,
        "action": version.action,
        "schema": version.schema,
        "submission_id": version.submission_id,
        "kid": version.kid,
        "jws_sha256": version.jws_sha256,
        "received_at": version.received_at,
        "accepted_at": version.accepted_at,
        "log_index": version.log_index,
        "seq": version.seq,
        **({"review": version.review} if version.review is not None else {}),
        **({"endorsements": list(version.endorsements)} if version.endorsements else {}),
        **({"visibility": version.visibility} if version.visibility != "public" else {}),
        **({"readers": list(version.readers)} if version.visibility == "restricted" else {}),
        "content": version.content,
    }


async def audit_page(repository: Audit, query: AuditQuery) -> tuple[list[dict[str, Any]], int | None]:
    """Decided submissions matching ``query`` and the cursor of the next page (None on the last)."""
    rows = await repository.audit_submissions(replace(query, limit=query.limit + 1))
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = rows[-1].state.log_index if more and rows else None
    return [submission_document(r.state) for r in rows], cursor


async def provenance(
    repository: Repository, log: TransparencyLog, key: RecordKey, number: int
) -> dict[str, Any] | None:
    """Everything needed to re-check one record version by hand; None when there is no such version."""
    version = await repository.get_version(key, number)
    if version is None:
        return None
    participant, sid = version.submitter, version.submission_id
    state = await repository.get_submission(participant, sid)
    stored = await repository.get_submission_body(participant, sid)
    public_key = await repository.get_key(version.kid)
    if state is None or stored is None or public_key is None:
        raise ExchangeError(
            Problems.INTERNAL, f"version {number} of {key} names a submission or key that the repository lacks"
        )
    body, serialization = stored
    entry = await log.entry(version.log_index)
    status = public_key.status_at(times.parse(version.received_at))
    return {
        "version": version.as_dict(),
        "submission": {**submission_document(state), "jws": _b64(body), "serialization": serialization},
        "key": {**public_key.to_jwk(), "status_at_receipt": status, "valid_at_receipt": status == "valid"},
        "log_entry": {"index": version.log_index, "entry": _b64(entry), "decoded": json.loads(entry)},
        "receipt": await log.receipt(state),
        "log": {"origin": log.origin, "verifier_keys": log.verifier_keys},
    }


# ---- paging -----------------------------------------------------------------------------------------


async def decided_submissions(repository: Audit, page: int = PAGE) -> AsyncIterator[list[AuditedSubmission]]:
    """Every decided submission in log order, one page at a time."""
    after = -1
    while True:
        rows = await repository.audit_submissions(AuditQuery(after=after, limit=page))
        if not rows:
            return
        yield rows
        last = rows[-1].state.log_index
        if len(rows) < page or last is None:
            return
        after = last


async def record_versions(repository: Audit, page: int = PAGE) -> AsyncIterator[list[RecordVersion]]:
    """Every record version in seq order, one page at a time."""
    after = 0
    while True:
        rows = await repository.all_versions(after, page)
        if not rows:
            return
        yield rows
        if len(rows) < page:
            return
        after = rows[-1].seq


def _lines(items: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(ijson.dumps(item) + b"\n" for item in items)


async def export_ndjson(repository: Audit, page: int = PAGE) -> AsyncGenerator[bytes, None]:
    """The NDJSON export: every decided submission in log order, then every record version in seq
    order, then one ``end`` line with the counts (so that a truncated export is recognised)."""
    submissions = versions = 0
    async for rows in decided_submissions(repository, page):
        submissions += len(rows)
        yield _lines(submission_line(r) for r in rows)
    async for chunk in record_versions(repository, page):
        versions += len(chunk)
        yield _lines(version_line(v) for v in chunk)
    yield _lines([{"type": "end", "format": EXPORT_FORMAT, "submissions": submissions, "versions": versions}])


# ---- W3C PROV-JSON ----------------------------------------------------------------------------------
#
# The model (W3C PROV-DM, serialised as PROV-JSON):
#   entities    the signed submission (``sub:<participant>/<submission_id>/jws``, its stored JWS) and each
#               record version (``rec:<participant>/<kind>/<record_id>/versions/<n>``);
#   activities  the decision on each submission (``sub:<participant>/<submission_id>``), typed
#               ``exchange:Acceptance`` or ``exchange:Rejection``; it ``used`` the signed submission;
#   agents      participants (``part:<id>``, prov:Organization), their signing keys (``key:<kid>``), and
#               the repository itself (``exchange:repository``, prov:SoftwareAgent);
#   relations   a version ``wasGeneratedBy`` its acceptance and ``wasDerivedFrom`` the signed submission and
#               (as a ``prov:Revision``) its previous version; a decision ``wasAssociatedWith`` the key
#               that signed and the repository that sequenced it; the key ``actedOnBehalfOf`` its
#               participant in that decision; submissions are attributed to keys, versions to participants.
# Digests, key ids, log indexes and seqs are attributes, so every statement points at an artefact that
# ``exchange verify`` checks.

ProvItem = tuple[str, dict[str, Any]]


def prov_prefixes(origin: str) -> dict[str, str]:
    base = origin.rstrip("/")
    return {
        "exchange": f"{base}/ns/exchange#",
        "sub": f"{base}/v1/submissions/",
        "rec": f"{base}/v1/records/",
        "part": f"{base}/v1/participants/",
        "key": f"{base}/v1/keys/",
    }


def _qname(name: str) -> dict[str, str]:
    return {"$": name, "type": "xsd:QName"}


def _datetime(value: str | None) -> dict[str, str] | None:
    return {"$": value, "type": "xsd:dateTime"} if value else None


def _attrs(**values: Any) -> dict[str, Any]:
    """PROV attributes, ``prov_x`` and ``exchange_x`` spelled ``prov:x`` and ``exchange:x``; None left out."""
    return {name.replace("_", ":", 1): value for name, value in values.items() if value is not None}


REPOSITORY_AGENT = "exchange:repository"


def _decision_id(state: SubmissionState) -> str:
    return f"sub:{state.participant}/{state.submission_id}"


def _signed_id(participant: str, submission_id: str) -> str:
    return f"sub:{participant}/{submission_id}/jws"


def _version_id(key: RecordKey, number: int) -> str:
    return f"rec:{key.participant}/{key.kind}/{key.record_id}/versions/{number}"


def _submission_entity(item: AuditedSubmission) -> list[ProvItem]:
    s = item.state
    attrs = _attrs(
        prov_type=_qname("exchange:SignedSubmission"),
        exchange_submission_id=s.submission_id,
        exchange_participant=s.participant,
        exchange_kid=s.kid,
        exchange_jws_sha256=s.jws_sha256,
        exchange_payload_sha256=s.payload_sha256,
        exchange_serialization=item.serialization,
        exchange_received_at=_datetime(s.received_at),
    )
    return [(_signed_id(s.participant, s.submission_id), attrs)]


def _version_entity(v: RecordVersion) -> list[ProvItem]:
    attrs = _attrs(
        prov_type=_qname("exchange:RecordVersion"),
        exchange_record=str(v.key),
        exchange_version=v.version,
        exchange_action=v.action,
        exchange_schema=v.schema,
        exchange_submission_id=v.submission_id,
        exchange_kid=v.kid,
        exchange_jws_sha256=v.jws_sha256,
        exchange_log_index=v.log_index,
        exchange_seq=v.seq,
    )
    return [(_version_id(v.key, v.version), attrs)]


def _decision(item: AuditedSubmission) -> list[ProvItem]:
    s = item.state
    kind = {"accepted": "Acceptance", "rejected": "Rejection"}.get(s.status, "HeldForReview")
    attrs = _attrs(
        prov_type=_qname(f"exchange:{kind}"),
        prov_startTime=s.received_at,
        prov_endTime=s.decided_at,
        exchange_outcome=s.status,
        exchange_log_index=s.log_index,
        exchange_record=s.record,
        exchange_version=s.version,
        exchange_seq=s.seq,
    )
    return [(_decision_id(s), attrs)]


def _used(item: AuditedSubmission) -> list[ProvItem]:
    s = item.state
    attrs = _attrs(
        prov_activity=_decision_id(s),
        prov_entity=_signed_id(s.participant, s.submission_id),
        prov_time=s.received_at,
    )
    return [(f"_:used{s.log_index}", attrs)]


def _associations(item: AuditedSubmission) -> list[ProvItem]:
    s = item.state
    out: list[ProvItem] = [
        (
            f"_:sequenced{s.log_index}",
            _attrs(prov_activity=_decision_id(s), prov_agent=REPOSITORY_AGENT, prov_role=_qname("exchange:sequencer")),
        )
    ]
    if s.kid:
        out.append(
            (
                f"_:signed{s.log_index}",
                _attrs(prov_activity=_decision_id(s), prov_agent=f"key:{s.kid}", prov_role=_qname("exchange:signer")),
            )
        )
    return out


def _delegation(item: AuditedSubmission) -> list[ProvItem]:
    s = item.state
    if not s.kid:
        return []
    attrs = _attrs(
        prov_delegate=f"key:{s.kid}", prov_responsible=f"part:{s.participant}", prov_activity=_decision_id(s)
    )
    return [(f"_:delegated{s.log_index}", attrs)]


def _submission_attribution(item: AuditedSubmission) -> list[ProvItem]:
    s = item.state
    if not s.kid:
        return []
    attrs = _attrs(prov_entity=_signed_id(s.participant, s.submission_id), prov_agent=f"key:{s.kid}")
    return [(f"_:signedby{s.log_index}", attrs)]


def _generation(v: RecordVersion) -> list[ProvItem]:
    attrs = _attrs(
        prov_entity=_version_id(v.key, v.version),
        prov_activity=f"sub:{v.submitter}/{v.submission_id}",
        prov_time=v.accepted_at,
    )
    return [(f"_:generated{v.seq}", attrs)]


def _derivations(v: RecordVersion) -> list[ProvItem]:
    this = _version_id(v.key, v.version)
    out: list[ProvItem] = [
        (
            f"_:signedcontent{v.seq}",
            _attrs(
                prov_generatedEntity=this,
                prov_usedEntity=_signed_id(v.key.participant, v.submission_id),
                prov_activity=f"sub:{v.submitter}/{v.submission_id}",
            ),
        )
    ]
    if v.version > 1:
        out.append(
            (
                f"_:revision{v.seq}",
                _attrs(
                    prov_generatedEntity=this,
                    prov_usedEntity=_version_id(v.key, v.version - 1),
                    prov_type=_qname("prov:Revision"),
                ),
            )
        )
    return out


def _version_attribution(v: RecordVersion) -> list[ProvItem]:
    attrs = _attrs(prov_entity=_version_id(v.key, v.version), prov_agent=f"part:{v.key.participant}")
    return [(f"_:ownedby{v.seq}", attrs)]


async def _agents(repository: Registry) -> AsyncIterator[list[ProvItem]]:
    yield [(REPOSITORY_AGENT, _attrs(prov_type=_qname("prov:SoftwareAgent"), prov_label="the repository"))]
    yield [
        (
            f"part:{p.id}",
            _attrs(prov_type=_qname("prov:Organization"), prov_label=p.name, exchange_participant_type=p.type),
        )
        for p in await repository.list_participants()
    ]
    yield [
        (
            f"key:{k.kid}",
            _attrs(
                prov_type=_qname("exchange:SigningKey"),
                exchange_participant=k.participant,
                exchange_alg=k.alg,
                exchange_thumbprint=k.thumbprint,
                exchange_valid_from=_datetime(times.iso(k.valid_from)),
                exchange_valid_until=_datetime(times.iso(k.valid_until) if k.valid_until else None),
                exchange_revoked_at=_datetime(times.iso(k.revoked_at) if k.revoked_at else None),
            ),
        )
        for k in await repository.list_keys()
    ]


async def _over_submissions(
    repository: Audit, page: int, *builders: Callable[[AuditedSubmission], list[ProvItem]]
) -> AsyncIterator[list[ProvItem]]:
    async for rows in decided_submissions(repository, page):
        yield [item for row in rows for build in builders for item in build(row)]


async def _over_versions(
    repository: Audit, page: int, *builders: Callable[[RecordVersion], list[ProvItem]]
) -> AsyncIterator[list[ProvItem]]:
    async for rows in record_versions(repository, page):
        yield [item for row in rows for build in builders for item in build(row)]


async def _section(name: str, batches: AsyncIterator[list[ProvItem]]) -> AsyncIterator[bytes]:
    yield b"," + ijson.dumps(name) + b":{"
    first = True
    async for batch in batches:
        if batch:
            joined = b",".join(ijson.dumps(ident) + b":" + ijson.dumps(attrs) for ident, attrs in batch)
            yield joined if first else b"," + joined
            first = False
    yield b"}"


async def _chain(*parts: AsyncIterator[list[ProvItem]]) -> AsyncIterator[list[ProvItem]]:
    for part in parts:
        async for batch in part:
            yield batch


async def export_prov(repository: Repository, origin: str, page: int = PAGE) -> AsyncGenerator[bytes, None]:
    """The W3C PROV-JSON document of the whole history, written section by section.

    Each section is one more pass over the repository, page by page: memory stays bounded whatever the
    size of the log.
    """
    subs, vers = _over_submissions, _over_versions
    sections: list[tuple[str, AsyncIterator[list[ProvItem]]]] = [
        (
            "entity",
            _chain(subs(repository, page, _submission_entity), vers(repository, page, _version_entity)),
        ),
        ("activity", subs(repository, page, _decision)),
        ("agent", _agents(repository)),
        ("wasGeneratedBy", vers(repository, page, _generation)),
        ("used", subs(repository, page, _used)),
        ("wasAssociatedWith", subs(repository, page, _associations)),
        ("actedOnBehalfOf", subs(repository, page, _delegation)),
        ("wasDerivedFrom", vers(repository, page, _derivations)),
        (
            "wasAttributedTo",
            _chain(subs(repository, page, _submission_attribution), vers(repository, page, _version_attribution)),
        ),
    ]
    yield b'{"prefix":' + ijson.dumps(prov_prefixes(origin))
    for name, batches in sections:
        async for chunk in _section(name, batches):
            yield chunk
    yield b"}\n"
