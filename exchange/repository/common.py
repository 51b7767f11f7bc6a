"""What every storage adapter shares, whatever its dialect: safe URLs, column lists, row converters and
the subscription UPDATE. Both adapters select the same columns in the same order, so one converter serves;
this is the one place that holds them (adapters import them from here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from exchange import times
from exchange.models import (
    TERM_FACETS,
    Change,
    Decision,
    DeliveryAttempt,
    Participant,
    RecordCounts,
    RecordKey,
    RecordVersion,
    StoredCheckpoint,
    SubmissionState,
    Subscription,
    TokenInfo,
)
from exchange.publickeys import PublicKey
from exchange.validation import IndexFields
from exchange.visibility import unpack_readers

NEW_KEY_COLUMNS = "kid, participant, alg, jwk, thumbprint, valid_from, valid_until, added_at, log_index"


def key_values(key: PublicKey, added: str, log_index: int) -> tuple[Any, ...]:
    """A new key's row, in the order of :data:`NEW_KEY_COLUMNS`."""
    return (
        key.kid,
        key.participant,
        key.alg,
        orjson.dumps(key.jwk).decode(),
        key.thumbprint,
        times.iso(key.valid_from),
        times.iso(key.valid_until) if key.valid_until else None,
        added,
        log_index,
    )


SUBSCRIPTION_COLUMNS = (
    "id, owner, url, kinds, participants, jurisdictions, secret, status, cursor, created_at, previous_secret, "
    "previous_secret_until, failing_since, attempts, next_attempt_at, last_error, lease_owner, lease_until"
)
SUBMISSION_COLUMNS = (
    "participant, submission_id, jws_sha256, received_at, status, kind, kid, errors, record, version, "
    "seq, log_index, decided_at, payload_sha256, unchanged, review"
)
VERSION_COLUMNS = (
    "participant, kind, record_id, version, action, schema, content, submission_id, kid, jws_sha256, "
    "received_at, accepted_at, log_index, seq, review, endorsements, visibility, readers"
)
KEY_COLUMNS = "kid, participant, alg, jwk, valid_from, valid_until, revoked_at, revoked_reason, added_at"
TOKEN_COLUMNS = "token_id, participant, role, label, created_at, revoked_at, expires_at"  # noqa: S105 (column names)
PARTICIPANT_COLUMNS = "id, name, type, jurisdictions, created_at"
DELIVERY_COLUMNS = "subscription_id, seq, webhook_id, attempt, at, status_code, latency_ms, error"
#: The columns of a change (table alias ``c``); a listing adds its version's content, accepted_at and
#: review, and its JWS (or NULLs) after them.
CHANGE_COLUMNS = (
    "c.seq, c.action, c.participant, c.kind, c.record_id, c.version, c.log_index, c.submission_id, c.kid, "
    "c.received_at, c.jurisdiction, c.visibility, c.readers"
)
_UPDATABLE = frozenset(SUBSCRIPTION_COLUMNS.replace(" ", "").split(",")) - {"id", "owner", "created_at"}
_LISTS = ("kinds", "participants", "jurisdictions")


class Row(Protocol):
    """A result row of either driver (a tuple from sqlite3, an ``asyncpg.Record``)."""

    def __getitem__(self, index: int, /) -> Any: ...


def redact(url: str) -> str:
    """``url`` with any password (in the user info or a ``password`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def subscription_update(fields: Mapping[str, Any], expect: Mapping[str, Any], mark: str) -> tuple[str, list[Any]]:
    """The UPDATE statement of ``update_subscription``: values of ``fields``, then the id, then ``expect``'s.

    ``expect`` makes it a compare-and-set: the row changes only while those columns hold those values
    (``None`` meaning NULL). ``mark`` is the placeholder style: ``?`` for SQLite, ``$`` for numbered
    PostgreSQL parameters.
    """
    unknown = (set(fields) | set(expect)) - _UPDATABLE
    if unknown or not fields:
        raise ValueError(f"cannot update subscription field(s) {sorted(unknown) or '(none)'}")

    def encode(name: str, value: Any) -> Any:
        return orjson.dumps(list(value)).decode() if name in _LISTS else value

    count = 0

    def place() -> str:
        nonlocal count
        count += 1
        return "?" if mark == "?" else f"${count}"

    sets = ", ".join(f"{name} = {place()}" for name in fields)
    where = [f"id = {place()}"]
    args = [encode(n, v) for n, v in fields.items()]
    for name, value in expect.items():
        if value is None:
            where.append(f"{name} IS NULL")
        else:
            where.append(f"{name} = {place()}")
            args.append(encode(name, value))
    return f"UPDATE subscriptions SET {sets} WHERE {' AND '.join(where)}", args


def subscription_row(s: Subscription) -> tuple[Any, ...]:
    """The values of :data:`SUBSCRIPTION_COLUMNS` for ``s`` (lists as JSON text)."""
    return (
        s.id, s.owner, s.url, orjson.dumps(list(s.kinds)).decode(), orjson.dumps(list(s.participants)).decode(),
        orjson.dumps(list(s.jurisdictions)).decode(), s.secret, s.status, s.cursor, s.created_at,
        s.previous_secret, s.previous_secret_until, s.failing_since, s.attempts, s.next_attempt_at,
        s.last_error, s.lease_owner, s.lease_until,
    )  # fmt: skip


def subscription_from_row(row: Row) -> Subscription:
    """The subscription a row of :data:`SUBSCRIPTION_COLUMNS` holds."""
    return Subscription(
        id=row[0], owner=row[1], url=row[2], kinds=tuple(orjson.loads(row[3])),
        participants=tuple(orjson.loads(row[4])), jurisdictions=tuple(orjson.loads(row[5])), secret=row[6],
        status=row[7], cursor=row[8], created_at=row[9], previous_secret=row[10], previous_secret_until=row[11],
        failing_since=row[12], attempts=row[13], next_attempt_at=row[14], last_error=row[15],
        lease_owner=row[16], lease_until=row[17],
    )  # fmt: skip


def involved(decision: Decision) -> tuple[tuple[str, str], ...]:
    """The submissions a decision reads the state of: its own, and the one an editor's review decides."""
    own = (decision.submission.participant, decision.submission.submission_id)
    return (own, decision.review.reviewed) if decision.review is not None else (own,)


def identifiers_of(decisions: Sequence[Decision]) -> list[str]:
    """The document identifiers the record changes of ``decisions`` carry (an approval: its reviewed one's)."""
    return [i for d in decisions if (index := d.applied.index) is not None for i in index.identifiers]


def with_endorsement(stored: str | None, endorsement: dict[str, Any]) -> str:
    """A version's endorsements (stored as a JSON list) with one more."""
    return orjson.dumps([*(orjson.loads(stored) if stored else []), endorsement]).decode()


def json_or_none(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value is not None else None


def state_of(row: Row) -> SubmissionState:
    return SubmissionState(
        participant=row[0],
        submission_id=row[1],
        jws_sha256=row[2],
        received_at=row[3],
        status=row[4],
        kind=row[5],
        kid=row[6],
        errors=orjson.loads(row[7]) if row[7] else [],
        record=row[8],
        version=row[9],
        seq=row[10],
        log_index=row[11],
        decided_at=row[12],
        payload_sha256=row[13],
        unchanged=bool(row[14]),
        review=orjson.loads(row[15]) if row[15] else None,
    )


def version_of(row: Row) -> RecordVersion:
    return RecordVersion(
        key=RecordKey(row[0], row[1], row[2]),
        version=row[3],
        action=row[4],
        schema=row[5],
        content=orjson.loads(row[6]) if row[6] is not None else None,
        submission_id=row[7],
        kid=row[8],
        jws_sha256=row[9],
        received_at=row[10],
        accepted_at=row[11],
        log_index=row[12],
        seq=row[13],
        review=orjson.loads(row[14]) if row[14] else None,
        endorsements=tuple(orjson.loads(row[15])) if row[15] else (),
        visibility=row[16],
        readers=unpack_readers(row[17]),
    )


def key_of(row: Row) -> PublicKey:
    return PublicKey(
        kid=row[0],
        participant=row[1],
        alg=row[2],
        jwk=orjson.loads(row[3]),
        valid_from=times.parse(row[4]),
        valid_until=times.parse(row[5]) if row[5] else None,
        revoked_at=times.parse(row[6]) if row[6] else None,
        revoked_reason=row[7],
        added_at=times.parse(row[8]),
    )


def participant_of(row: Row) -> Participant:
    return Participant(row[0], row[1], row[2], tuple(orjson.loads(row[3])), row[4])


def token_of(row: Row) -> TokenInfo:
    return TokenInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def delivery_of(row: Row) -> DeliveryAttempt:
    return DeliveryAttempt(row[0], row[1], row[2], row[3], row[4], row[5], float(row[6]), row[7])


def change_of(row: Row) -> Change:
    """The change a row of :data:`CHANGE_COLUMNS`, then content and JWS (either may be NULL), holds."""
    return Change(
        seq=row[0],
        action=row[1],
        key=RecordKey(row[2], row[3], row[4]),
        version=row[5],
        log_index=row[6],
        submission_id=row[7],
        kid=row[8],
        received_at=row[9],
        jurisdiction=row[10],
        visibility=row[11],
        readers=unpack_readers(row[12]),
        content_json=(row[13] if isinstance(row[13], str) else bytes(row[13]).decode())
        if row[13] is not None
        else None,
        accepted_at=row[14],
        review=orjson.loads(row[15]) if row[15] else None,
        jws=bytes(row[16]).decode() if row[16] is not None else None,
    )


def checkpoint_of(row: Row) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], row[3])


def record_counts(kinds: Iterable[Any], terms: Iterable[Any]) -> RecordCounts:
    """Facet counts from rows of (kind, status, count) and (facet code, term, count)."""
    by_kind: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for kind, status, count in kinds:
        by_kind[kind] = by_kind.get(kind, 0) + int(count)
        if status is not None:
            by_status[status] = by_status.get(status, 0) + int(count)
    facets: dict[str, dict[str, int]] = {name: {} for name in TERM_FACETS.values()}
    for facet, term, count in terms:
        if facet in TERM_FACETS:
            facets[TERM_FACETS[facet]][term] = int(count)
    return RecordCounts(total=sum(by_kind.values()), kinds=by_kind, statuses=by_status, **facets)


def index_terms(index: IndexFields) -> list[tuple[str, str]]:
    """The (facet, term) rows a record's index fields are stored as, sorted: ``j`` jurisdictions,
    ``r`` regions, ``t`` subject tags, ``a`` instruments and their articles, ``i`` document identifiers."""
    return sorted(
        {("j", j) for j in index.jurisdictions}
        | {("r", r) for r in index.regions}
        | {("t", t) for t in index.tags}
        | {("a", a) for a in index.articles}
        | {("i", i) for i in index.identifiers}
    )
