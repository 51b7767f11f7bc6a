"""The scale-out repository: PostgreSQL through an asyncpg connection pool.

Semantics follow the embedded adapter (:mod:`exchange.repository.sqlite`) exactly; only the dialect
differs. Every append to the transparency log (key events and decisions) runs in one transaction that
first takes the sequencer's transaction-scoped advisory lock: appends are serialised and commit in log
and seq order, so no reader can ever see seq N+1 while N is still invisible (DESIGN §8). The lock is
keyed by the current schema, so deployments sharing one database in separate schemas do not contend.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from exchange import times
from exchange.errors import ExchangeError, Problems, Unavailable
from exchange.keys import PublicKey
from exchange.models import (
    AuditedSubmission,
    AuditQuery,
    Change,
    ChangeQuery,
    Decision,
    DeliveryAttempt,
    Participant,
    QueuedSubmission,
    RecordKey,
    RecordQuery,
    RecordVersion,
    StoredCheckpoint,
    SubmissionState,
    Subscription,
    TokenInfo,
)
from exchange.repository.postgresql_schema import MIGRATIONS
from exchange.repository.sqlite import subscription_update
from exchange.sequencer import Current, LogEntry, NewVersion, plan
from exchange.settings import Settings
from exchange.transparency.entries import key_entry
from exchange.transparency.merkle import EMPTY_ROOT, NodeKey, nodes_for_append, root_from, root_nodes
from exchange.validation import IndexFields

Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

COMPONENT = "repository"
#: First key of the two-key advisory locks (ASCII "EXSQ" and "EXMG"); the second is the schema's hash.
SEQUENCER_LOCK = 0x45585351
MIGRATION_LOCK = 0x45584D47
_LOCK = "SELECT pg_advisory_xact_lock($1::int4, hashtext(coalesce(current_schema(), '')))"
_CONNECT_TIMEOUT = 10.0
_ACQUIRE_TIMEOUT = 30.0
_CLOSE_TIMEOUT = 10.0

#: Failures that mean "the database cannot serve us now": the caller should retry later.
_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.InternalClientError,
)

#: Failures while connecting, where a server error (authentication, unknown database) also means "unavailable".
_CONNECT_FAILURES: tuple[type[BaseException], ...] = (*_TRANSIENT, asyncpg.PostgresError)

_SUBMISSION_COLUMNS = (
    "participant, submission_id, jws_sha256, received_at, status, kind, kid, errors, record, version, "
    "seq, log_index, decided_at, payload_sha256"
)
_VERSION_COLUMNS = (
    "participant, kind, record_id, version, action, schema, content, submission_id, kid, jws_sha256, "
    "received_at, accepted_at, log_index, seq"
)
_KEY_COLUMNS = "kid, participant, alg, jwk, valid_from, valid_until, revoked_at, revoked_reason, added_at"
_TOKEN_COLUMNS = "token_id, participant, role, label, created_at, revoked_at"  # noqa: S105 (column names)
_PARTICIPANT_COLUMNS = "id, name, type, jurisdictions, created_at"
_SUBSCRIPTION_COLUMNS = (
    "id, owner, url, kinds, participants, jurisdictions, secret, status, cursor, created_at, previous_secret, "
    "previous_secret_until, failing_since, attempts, next_attempt_at, last_error, lease_owner, lease_until"
)
_DELIVERY_COLUMNS = "subscription_id, seq, webhook_id, attempt, at, status_code, latency_ms, error"
_CHANGE_COLUMNS = (
    "c.seq, c.action, c.participant, c.kind, c.record_id, c.version, c.log_index, c.submission_id, c.kid, "
    "c.received_at, c.jurisdiction"
)


def redact(url: str) -> str:
    """``url`` with any password (in the user info or a ``password`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, asyncpg.DataError)


# ---- row conversion -----------------------------------------------------------------------------------


def _state(row: asyncpg.Record) -> SubmissionState:
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
    )


def _version(row: asyncpg.Record) -> RecordVersion:
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
    )


def _key(row: asyncpg.Record) -> PublicKey:
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


def _participant(row: asyncpg.Record) -> Participant:
    return Participant(row[0], row[1], row[2], tuple(orjson.loads(row[3])), row[4])


def _token(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(row[0], row[1], row[2], row[3], row[4], row[5])


def _subscription_row(s: Subscription) -> tuple[Any, ...]:
    return (
        s.id, s.owner, s.url, orjson.dumps(list(s.kinds)).decode(), orjson.dumps(list(s.participants)).decode(),
        orjson.dumps(list(s.jurisdictions)).decode(), s.secret, s.status, s.cursor, s.created_at,
        s.previous_secret, s.previous_secret_until, s.failing_since, s.attempts, s.next_attempt_at,
        s.last_error, s.lease_owner, s.lease_until,
    )  # fmt: skip


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row[0], owner=row[1], url=row[2], kinds=tuple(orjson.loads(row[3])),
        participants=tuple(orjson.loads(row[4])), jurisdictions=tuple(orjson.loads(row[5])), secret=row[6],
        status=row[7], cursor=row[8], created_at=row[9], previous_secret=row[10], previous_secret_until=row[11],
        failing_since=row[12], attempts=row[13], next_attempt_at=row[14], last_error=row[15],
        lease_owner=row[16], lease_until=row[17],
    )  # fmt: skip


def _delivery(row: asyncpg.Record) -> DeliveryAttempt:
    return DeliveryAttempt(row[0], row[1], row[2], row[3], row[4], row[5], float(row[6]), row[7])


def _change(row: asyncpg.Record) -> Change:
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
        content=orjson.loads(row[11]) if row[11] is not None else None,
        jws=bytes(row[12]).decode() if row[12] is not None else None,
    )


def _checkpoint(row: asyncpg.Record) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], row[3])


def _columns(rows: Iterable[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows turned into ``width`` column lists, for ``unnest($1::type[], …)``."""
    out: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(out, row, strict=True):
            column.append(value)
    return out


# ---- migrations ---------------------------------------------------------------------------------------


async def migrate(conn: Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Apply the migrations not applied yet, in the caller's transaction; return the schema version.

    The transaction-scoped advisory lock makes processes that start together apply them one at a time.
    """
    await conn.execute(_LOCK, MIGRATION_LOCK)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(component text NOT NULL, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), "
        "PRIMARY KEY (component, version))"
    )
    applied = await conn.fetchval(
        "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = $1", COMPONENT
    )
    if applied > len(migrations):
        raise RuntimeError(
            f"the database holds {COMPONENT} schema version {applied}, newer than this program "
            f"knows ({len(migrations)}); upgrade exchange"
        )
    for version, script in enumerate(migrations, start=1):
        if version <= applied:
            continue
        await conn.execute(script)
        await conn.execute("INSERT INTO schema_migrations (component, version) VALUES ($1, $2)", COMPONENT, version)
    return len(migrations)


# ---- the transparency log -----------------------------------------------------------------------------


async def lock_sequencer(conn: Connection) -> None:
    """Take the single sequencer's lock until the caller's transaction ends."""
    await conn.execute(_LOCK, SEQUENCER_LOCK)


async def log_size(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(idx) + 1, 0) FROM log_entries"))


async def fetch_nodes(conn: Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    """Stored subtree hashes for ``keys``, in one query (missing keys are left out)."""
    if not keys:
        return {}
    levels, indexes = _columns(keys, 2)
    rows = await conn.fetch(
        "SELECT n.level, n.idx, n.hash FROM log_nodes n "
        "JOIN unnest($1::int2[], $2::int8[]) AS k(level, idx) ON n.level = k.level AND n.idx = k.idx",
        levels,
        indexes,
    )
    return {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}


async def append_log(conn: Connection, entries: Sequence[LogEntry]) -> None:
    """Store log entries and the Merkle nodes they complete, in the caller's (locked) transaction.

    ``nodes_for_append`` only asks for nodes on the old tree's right frontier, which are exactly the
    nodes of the old root (``root_nodes(start)``): they are read in one query before it runs.
    """
    if not entries:
        return
    start = entries[0].index
    frontier = await fetch_nodes(conn, root_nodes(start))

    def get(keys: Iterable[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {k: frontier[k] for k in keys if k in frontier}

    nodes = nodes_for_append(start, [e.leaf_hash for e in entries], get)
    await conn.copy_records_to_table(
        "log_entries", records=[(e.index, e.entry, e.leaf_hash) for e in entries], columns=("idx", "entry", "leaf_hash")
    )
    await conn.copy_records_to_table("log_nodes", records=nodes, columns=("level", "idx", "hash"))


# ---- decisions ----------------------------------------------------------------------------------------


async def fetch_states(conn: Connection, idents: Iterable[tuple[str, str]]) -> dict[tuple[str, str], SubmissionState]:
    unique = list(dict.fromkeys(idents))
    if not unique:
        return {}
    participants, ids = _columns(unique, 2)
    rows = await conn.fetch(
        f"SELECT {', '.join('s.' + c.strip() for c in _SUBMISSION_COLUMNS.split(','))} FROM submissions s "
        "JOIN unnest($1::text[], $2::text[]) AS k(participant, submission_id) "
        "ON s.participant = k.participant AND s.submission_id = k.submission_id",
        participants,
        ids,
    )
    return {(r[0], r[1]): _state(r) for r in rows}


async def fetch_current(conn: Connection, keys: Iterable[RecordKey]) -> dict[RecordKey, Current]:
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    participants, kinds, record_ids = _columns(((k.participant, k.kind, k.record_id) for k in unique), 3)
    rows = await conn.fetch(
        "SELECT r.participant, r.kind, r.record_id, r.version, r.withdrawn FROM records r "
        "JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(participant, kind, record_id) "
        "ON r.participant = k.participant AND r.kind = k.kind AND r.record_id = k.record_id",
        participants,
        kinds,
        record_ids,
    )
    return {RecordKey(r[0], r[1], r[2]): Current(int(r[3]), bool(r[4])) for r in rows}


_UPSERT_SUBMISSION = (
    "INSERT INTO submissions (participant, submission_id, kind, jws_sha256, serialization, body, "
    "received_at, status, kid, payload_sha256, errors, record, version, seq, log_index, decided_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
    "ON CONFLICT (participant, submission_id) DO UPDATE SET kind = excluded.kind, "
    "status = excluded.status, kid = excluded.kid, payload_sha256 = excluded.payload_sha256, "
    "errors = excluded.errors, record = excluded.record, version = excluded.version, "
    "seq = excluded.seq, log_index = excluded.log_index, decided_at = excluded.decided_at"
)


async def write_decided(conn: Connection, decided: Sequence[tuple[Decision, SubmissionState]]) -> None:
    if not decided:
        return
    await conn.executemany(
        _UPSERT_SUBMISSION,
        [
            (
                d.submission.participant,
                d.submission.submission_id,
                d.submission.kind,
                d.submission.jws_sha256,
                d.submission.serialization,
                d.submission.body,
                d.submission.received_at,
                s.status,
                s.kid,
                d.payload_sha256,
                orjson.dumps(s.errors).decode() if s.errors else None,
                s.record,
                s.version,
                s.seq,
                s.log_index,
                s.decided_at,
            )
            for d, s in decided
        ],
    )


@dataclass
class _RecordRow:
    """The current-view row of one record after a batch's versions are applied in order."""

    version: int
    withdrawn: bool
    status: str | None = None  # None keeps the stored value, like SQLite's coalesce
    date: str | None = None
    index: IndexFields | None = None  # the last indexed upsert: its terms and text replace the stored ones
    terms: list[tuple[str, str]] = field(default_factory=list)


def _fold_records(versions: Sequence[NewVersion]) -> dict[RecordKey, _RecordRow]:
    """Apply the batch's versions in order to each record's row (one upsert per record, not per version)."""
    rows: dict[RecordKey, _RecordRow] = {}
    for new in versions:
        withdrawn = new.decision.action == "withdraw"
        index = new.decision.index
        row = rows.setdefault(new.key, _RecordRow(new.version, withdrawn))
        row.version, row.withdrawn = new.version, withdrawn
        if index is not None:
            row.status = index.status if index.status is not None else row.status
            row.date = index.date if index.date is not None else row.date
            if not withdrawn:
                row.index = index
    for row in rows.values():
        if row.index is not None:
            i = row.index
            row.terms = sorted(
                {("j", j) for j in i.jurisdictions} | {("r", r) for r in i.regions} | {("t", t) for t in i.tags}
            )
    return rows


async def change_jurisdictions(conn: Connection, versions: Sequence[NewVersion]) -> list[str | None]:
    """Each change's jurisdiction: its record's primary one, or (a withdrawal) the one its record had."""
    out: list[str | None] = []
    last: dict[RecordKey, str | None] = {}
    seen: set[RecordKey] = set()
    unknown: list[RecordKey] = []  # records whose first change in the batch names no jurisdiction
    for v in versions:
        if not (v.decision.index and v.decision.index.jurisdictions) and v.key not in seen:
            unknown.append(v.key)
        seen.add(v.key)
    if unknown:
        participants, kinds, record_ids = _columns(((k.participant, k.kind, k.record_id) for k in unknown), 3)
        rows = await conn.fetch(
            "SELECT DISTINCT ON (c.participant, c.kind, c.record_id) c.participant, c.kind, c.record_id, "
            "c.jurisdiction FROM changes c "
            "JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(participant, kind, record_id) "
            "ON c.participant = k.participant AND c.kind = k.kind AND c.record_id = k.record_id "
            "ORDER BY c.participant, c.kind, c.record_id, c.seq DESC",
            participants,
            kinds,
            record_ids,
        )
        last.update({RecordKey(r[0], r[1], r[2]): r[3] for r in rows})
    for v in versions:
        index = v.decision.index
        jurisdiction = index.jurisdictions[0] if index and index.jurisdictions else last.get(v.key)
        last[v.key] = jurisdiction
        out.append(jurisdiction)
    return out


async def write_versions(conn: Connection, versions: Sequence[NewVersion], now: str) -> None:
    """Store new record versions, their changes and the records' current view and search terms."""
    if not versions:
        return
    await conn.copy_records_to_table(
        "record_versions",
        records=[
            (
                v.key.participant,
                v.key.kind,
                v.key.record_id,
                v.version,
                v.decision.action,
                v.decision.schema,
                v.decision.content.decode() if v.decision.content is not None else None,
                v.decision.submission.submission_id,
                v.decision.kid,
                v.decision.submission.jws_sha256,
                v.decision.submission.received_at,
                now,
                v.log_index,
                v.seq,
            )
            for v in versions
        ],
        columns=[c.strip() for c in _VERSION_COLUMNS.split(",")],
    )
    jurisdictions = await change_jurisdictions(conn, versions)
    await conn.copy_records_to_table(
        "changes",
        records=[
            (
                v.seq,
                v.key.participant,
                v.key.kind,
                v.key.record_id,
                v.version,
                v.decision.action,
                v.log_index,
                v.decision.submission.submission_id,
                v.decision.kid,
                v.decision.submission.received_at,
                jurisdiction,
            )
            for v, jurisdiction in zip(versions, jurisdictions, strict=True)
        ],
        columns=(
            "seq",
            "participant",
            "kind",
            "record_id",
            "version",
            "action",
            "log_index",
            "submission_id",
            "kid",
            "received_at",
            "jurisdiction",
        ),
    )
    await _write_records(conn, _fold_records(versions))


async def _write_records(conn: Connection, rows: Mapping[RecordKey, _RecordRow]) -> None:
    columns = _columns(
        (
            (
                key.participant,
                key.kind,
                key.record_id,
                row.version,
                row.withdrawn,
                row.status,
                row.date,
                row.index.title if row.index else None,
                row.index.text if row.index else None,
            )
            for key, row in rows.items()
        ),
        9,
    )
    stored = await conn.fetch(
        "INSERT INTO records (participant, kind, record_id, version, withdrawn, status, date, title, body) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::bool[], $6::text[], "
        "$7::text[], $8::text[], $9::text[]) "
        "ON CONFLICT (participant, kind, record_id) DO UPDATE SET version = excluded.version, "
        "withdrawn = excluded.withdrawn, status = coalesce(excluded.status, records.status), "
        "date = coalesce(excluded.date, records.date), title = coalesce(excluded.title, records.title), "
        "body = coalesce(excluded.body, records.body) "
        "RETURNING id, participant, kind, record_id",
        *columns,
    )
    ids = {RecordKey(r[1], r[2], r[3]): int(r[0]) for r in stored}
    reindexed = {ids[key]: row.terms for key, row in rows.items() if row.index is not None}
    if not reindexed:
        return
    await conn.execute("DELETE FROM record_terms WHERE record = ANY($1::int8[])", list(reindexed))
    await conn.copy_records_to_table(
        "record_terms",
        records=[(record, facet, term) for record, terms in reindexed.items() for facet, term in terms],
        columns=("record", "facet", "term"),
    )


# ---- record queries -----------------------------------------------------------------------------------


def records_query(query: RecordQuery) -> tuple[str, list[Any]]:
    """The SQL and arguments of a record listing: filters, then cursor order (participant, kind, id)."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["NOT r.withdrawn"]
    for column in ("kind", "participant", "status"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"r.{column} = {arg(value)}")
    for facet, value in (("j", query.jurisdiction), ("r", query.region), ("t", query.tag)):
        if value is not None:
            where.append(
                "EXISTS (SELECT 1 FROM record_terms t WHERE t.record = r.id "
                f"AND t.facet = {arg(facet)} AND t.term = {arg(value)})"
            )
    if query.date_from is not None:
        where.append(f"r.date >= {arg(query.date_from)}")
    if query.date_to is not None:
        where.append(f"r.date <= {arg(query.date_to)}")
    if query.q:
        where.append(f"r.search @@ plainto_tsquery('simple', {arg(query.q)})")
    if query.after is not None:
        participant, kind, record_id = query.after
        where.append(f"(r.participant, r.kind, r.record_id) > ({arg(participant)}, {arg(kind)}, {arg(record_id)})")
    sql = (
        f"SELECT {', '.join('v.' + c.strip() for c in _VERSION_COLUMNS.split(','))} "
        "FROM records r JOIN record_versions v ON v.participant = r.participant AND v.kind = r.kind "
        "AND v.record_id = r.record_id AND v.version = r.version "
        f"WHERE {' AND '.join(where)} ORDER BY r.participant, r.kind, r.record_id LIMIT {arg(query.limit)}"
    )
    return sql, args


def changes_query(query: ChangeQuery) -> tuple[str, list[Any]]:
    """The SQL and arguments of a change-feed page: ``seq > since``, filters, ``seq`` order."""
    args: list[Any] = [query.since]
    where = ["c.seq > $1"]
    for column, values in (
        ("kind", query.kinds),
        ("participant", query.participants),
        ("jurisdiction", query.jurisdictions),
    ):
        if values:
            args.append(list(values))
            where.append(f"c.{column} = ANY(${len(args)}::text[])")
    joins = ""
    if query.include_content:
        joins += (
            "JOIN record_versions v ON v.participant = c.participant AND v.kind = c.kind "
            "AND v.record_id = c.record_id AND v.version = c.version "
        )
    if query.include_jws:
        joins += "JOIN submissions s ON s.participant = c.participant AND s.submission_id = c.submission_id "
    content = "v.content" if query.include_content else "NULL"
    jws = "s.body" if query.include_jws else "NULL::bytea"
    args.append(query.limit)
    sql = (
        f"SELECT {_CHANGE_COLUMNS}, {content}, {jws} FROM changes c {joins}"
        f"WHERE {' AND '.join(where)} ORDER BY c.seq LIMIT ${len(args)}"
    )
    return sql, args


def audit_query(query: AuditQuery) -> tuple[str, list[Any]]:
    """The SQL and arguments listing decided submissions after ``query.after`` in log order."""
    args: list[Any] = [query.after]
    where = ["log_index > $1"]
    for column, value in (("participant", query.participant), ("kid", query.kid), ("status", query.outcome)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if query.received_from is not None:
        args.append(query.received_from)
        where.append(f"received_at >= ${len(args)}")
    if query.received_to is not None:
        args.append(query.received_to)
        where.append(f"received_at < ${len(args)}")
    args.append(query.limit)
    sql = (
        f"SELECT {_SUBMISSION_COLUMNS}, body, serialization FROM submissions WHERE {' AND '.join(where)} "
        f"ORDER BY log_index LIMIT ${len(args)}"
    )
    return sql, args


# ---- the adapter --------------------------------------------------------------------------------------


class PostgresRepository:
    """The :class:`exchange.repository.Repository` port on PostgreSQL."""

    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url
        self.settings = settings
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None

    @property
    def url(self) -> str:
        """The database URL with its password hidden: safe to log."""
        return redact(self._url)

    def _unavailable(self, exc: BaseException) -> Unavailable:
        return Unavailable(f"PostgreSQL at {self.url} is unavailable: {_describe(exc)}")

    async def open(self) -> None:
        if self._pool is not None:
            return
        size = self.settings.database_pool_size
        try:
            pool = await asyncpg.create_pool(self._url, min_size=min(2, size), max_size=size, timeout=_CONNECT_TIMEOUT)
        except _CONNECT_FAILURES as exc:
            if isinstance(exc, asyncpg.DataError):
                raise
            raise Unavailable(f"cannot connect to PostgreSQL at {self.url}: {_describe(exc)}") from None
        try:
            async with pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn, conn.transaction():
                await migrate(conn)
        except BaseException as exc:
            pool.terminate()
            if _is_transient(exc):
                raise self._unavailable(exc) from None
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), _CLOSE_TIMEOUT)
        except _TRANSIENT:
            pool.terminate()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        pool = self._pool
        if pool is None:
            raise Unavailable("the PostgreSQL repository is not open")
        try:
            async with pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn:
                yield conn
        except _TRANSIENT as exc:
            if isinstance(exc, asyncpg.DataError):
                raise
            raise self._unavailable(exc) from None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    # registry ---------------------------------------------------------------------------------

    async def add_participant(self, participant: Participant) -> None:
        async with self._connection() as conn:
            added = await conn.fetchval(
                "INSERT INTO participants (id, name, type, jurisdictions, created_at) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
                participant.id,
                participant.name,
                participant.type,
                orjson.dumps(list(participant.jurisdictions)).decode(),
                participant.created_at,
            )
        if added is None:
            raise ExchangeError(Problems.ALREADY_EXISTS, f"participant {participant.id!r} already exists")

    async def get_participant(self, participant_id: str) -> Participant | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {_PARTICIPANT_COLUMNS} FROM participants WHERE id = $1", participant_id)
        return _participant(row) if row else None

    async def list_participants(self) -> list[Participant]:
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT {_PARTICIPANT_COLUMNS} FROM participants ORDER BY id")
        return [_participant(r) for r in rows]

    async def add_key(self, key: PublicKey) -> int:
        added = times.iso(key.added_at or times.now())
        async with self._transaction() as conn:
            await lock_sequencer(conn)
            if await conn.fetchval("SELECT 1 FROM participants WHERE id = $1", key.participant) is None:
                raise ExchangeError(Problems.NOT_FOUND, f"participant {key.participant!r} is not registered")
            index = await log_size(conn)
            inserted = await conn.fetchval(
                "INSERT INTO keys (kid, participant, alg, jwk, thumbprint, valid_from, valid_until, added_at, "
                "log_index) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kid) DO NOTHING RETURNING 1",
                key.kid,
                key.participant,
                key.alg,
                orjson.dumps(key.jwk).decode(),
                key.thumbprint,
                times.iso(key.valid_from),
                times.iso(key.valid_until) if key.valid_until else None,
                added,
                index,
            )
            if inserted is None:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"key {key.kid!r} already exists")
            entry = key_entry(
                index=index,
                action="added",
                kid=key.kid,
                participant=key.participant,
                jwk_thumbprint=key.thumbprint,
                at=added,
            )
            await append_log(conn, [LogEntry(index, entry)])
        return index

    async def revoke_key(self, kid: str, reason: str, at: str) -> tuple[PublicKey, int]:
        async with self._transaction() as conn:
            await lock_sequencer(conn)
            row = await conn.fetchrow(f"SELECT {_KEY_COLUMNS} FROM keys WHERE kid = $1 FOR UPDATE", kid)
            if row is None:
                raise ExchangeError(Problems.NOT_FOUND, f"key {kid!r} is not registered")
            if row[6] is not None:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"key {kid!r} was already revoked at {row[6]}")
            updated = await conn.fetchrow(
                f"UPDATE keys SET revoked_at = $1, revoked_reason = $2 WHERE kid = $3 RETURNING {_KEY_COLUMNS}",
                at,
                reason,
                kid,
            )
            assert updated is not None  # the row is locked FOR UPDATE above
            key = _key(updated)
            index = await log_size(conn)
            entry = key_entry(
                index=index,
                action="revoked",
                kid=kid,
                participant=key.participant,
                jwk_thumbprint=key.thumbprint,
                at=at,
            )
            await append_log(conn, [LogEntry(index, entry)])
        return key, index

    async def get_key(self, kid: str) -> PublicKey | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {_KEY_COLUMNS} FROM keys WHERE kid = $1", kid)
        return _key(row) if row else None

    async def list_keys(self, participant: str | None = None) -> list[PublicKey]:
        async with self._connection() as conn:
            if participant is None:
                rows = await conn.fetch(f"SELECT {_KEY_COLUMNS} FROM keys ORDER BY kid")
            else:
                rows = await conn.fetch(
                    f"SELECT {_KEY_COLUMNS} FROM keys WHERE participant = $1 ORDER BY kid", participant
                )
        return [_key(r) for r in rows]

    async def add_token(self, token_hash: str, info: TokenInfo) -> None:
        async with self._connection() as conn:
            added = await conn.fetchval(
                "INSERT INTO tokens (token_hash, token_id, participant, role, label, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
                token_hash,
                info.token_id,
                info.participant,
                info.role,
                info.label,
                info.created_at,
            )
        if added is None:
            raise ExchangeError(Problems.ALREADY_EXISTS, f"token {info.token_id!r} already exists")

    async def find_token(self, token_hash: str) -> TokenInfo | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1", token_hash)
        return _token(row) if row else None

    async def list_tokens(self) -> list[TokenInfo]:
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at")
        return [_token(r) for r in rows]

    async def revoke_token(self, token_id: str, at: str) -> bool:
        async with self._connection() as conn:
            revoked = await conn.fetchval(
                "UPDATE tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL RETURNING 1",
                at,
                token_id,
            )
        return revoked is not None

    # submissions ------------------------------------------------------------------------------

    async def receive(self, submissions: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
        if not submissions:
            return []
        columns = _columns(
            (
                (s.participant, s.submission_id, s.kind, s.jws_sha256, s.serialization, s.body, s.received_at)
                for s in submissions
            ),
            7,
        )
        async with self._transaction() as conn:
            inserted = await conn.fetch(
                "INSERT INTO submissions (participant, submission_id, kind, jws_sha256, serialization, body, "
                "received_at, status) SELECT u.*, 'received' FROM unnest($1::text[], $2::text[], $3::text[], "
                "$4::text[], $5::text[], $6::bytea[], $7::text[]) AS u "
                "ON CONFLICT (participant, submission_id) DO NOTHING RETURNING participant, submission_id",
                *columns,
            )
            fresh = {(r[0], r[1]) for r in inserted}
            idents = [(s.participant, s.submission_id) for s in submissions]
            first: dict[tuple[str, str], int] = {}
            for position, ident in enumerate(idents):
                first.setdefault(ident, position)
            new = {position for ident, position in first.items() if ident in fresh}
            known = [ident for position, ident in enumerate(idents) if position not in new]
            stored = await fetch_states(conn, known)
        return [None if position in new else stored[ident] for position, ident in enumerate(idents)]

    async def decide(self, decisions: Sequence[Decision]) -> list[SubmissionState]:
        if not decisions:
            return []
        async with self._transaction() as conn:
            await lock_sequencer(conn)
            now = times.iso(times.now())
            existing = await fetch_states(
                conn, ((d.submission.participant, d.submission.submission_id) for d in decisions)
            )
            current = await fetch_current(conn, (d.record for d in decisions if d.record is not None))
            counters = await conn.fetchrow(
                "SELECT (SELECT coalesce(max(idx) + 1, 0) FROM log_entries), "
                "(SELECT coalesce(max(seq), 0) + 1 FROM changes)"
            )
            assert counters is not None  # a SELECT without FROM returns one row
            result = plan(decisions, existing, current, int(counters[0]), int(counters[1]), now)
            await write_decided(conn, result.decided)
            await write_versions(conn, result.versions, now)
            await append_log(conn, result.entries)
        return result.states

    async def get_submission(self, participant: str, submission_id: str) -> SubmissionState | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE participant = $1 AND submission_id = $2",
                participant,
                submission_id,
            )
        return _state(row) if row else None

    async def get_submission_body(self, participant: str, submission_id: str) -> tuple[bytes, str] | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT body, serialization FROM submissions WHERE participant = $1 AND submission_id = $2",
                participant,
                submission_id,
            )
        return (bytes(row[0]), row[1]) if row else None

    # transparency log -------------------------------------------------------------------------

    async def log_size(self) -> int:
        async with self._connection() as conn:
            return await log_size(conn)

    async def log_entries(self, start: int, end: int) -> list[tuple[int, bytes]]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT idx, entry FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx", start, end
            )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    async def log_root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        async with self._connection() as conn:
            nodes = await fetch_nodes(conn, root_nodes(size))
        return root_from(size, nodes)

    async def log_nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        async with self._connection() as conn:
            return await fetch_nodes(conn, keys)

    async def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (size) DO NOTHING",
                checkpoint.size,
                checkpoint.root,
                checkpoint.note,
                checkpoint.signed_at,
            )

    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                "SELECT size, root, note, signed_at FROM log_checkpoints ORDER BY size DESC LIMIT 1"
            )
        return _checkpoint(row) if row else None

    async def list_checkpoints(self, after: int = 0, limit: int = 1000) -> list[StoredCheckpoint]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT size, root, note, signed_at FROM log_checkpoints WHERE size > $1 ORDER BY size LIMIT $2",
                after,
                limit,
            )
        return [_checkpoint(r) for r in rows]

    # change feed ------------------------------------------------------------------------------

    async def last_seq(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM changes"))

    async def list_changes(self, query: ChangeQuery) -> list[Change]:
        sql, args = changes_query(query)
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [_change(r) for r in rows]

    # webhook subscriptions --------------------------------------------------------------------

    async def add_subscription(self, subscription: Subscription) -> None:
        row = _subscription_row(subscription)
        placeholders = ", ".join(f"${n}" for n in range(1, len(row) + 1))
        async with self._connection() as conn:
            added = await conn.fetchval(
                f"INSERT INTO subscriptions ({_SUBSCRIPTION_COLUMNS}) VALUES ({placeholders}) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
                *row,
            )
        if added is None:
            raise ExchangeError(Problems.ALREADY_EXISTS, f"subscription {subscription.id!r} already exists")

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1", subscription_id
            )
        return _subscription(row) if row else None

    async def list_subscriptions(self, owner: str | None = None) -> list[Subscription]:
        async with self._connection() as conn:
            if owner is None:
                rows = await conn.fetch(f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY created_at, id")
            else:
                rows = await conn.fetch(
                    f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE owner = $1 ORDER BY created_at, id",
                    owner,
                )
        return [_subscription(r) for r in rows]

    async def update_subscription(
        self, subscription_id: str, fields: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> bool:
        sql, args = subscription_update(fields, expect or {}, "$")
        async with self._connection() as conn:
            updated = await conn.fetchval(
                sql + " RETURNING 1", *args[: len(fields)], subscription_id, *args[len(fields) :]
            )
        return updated is not None

    async def delete_subscription(self, subscription_id: str) -> bool:
        async with self._connection() as conn:
            deleted = await conn.fetchval("DELETE FROM subscriptions WHERE id = $1 RETURNING 1", subscription_id)
        return deleted is not None

    async def claim_subscriptions(self, owner: str, until: str, now: str, limit: int) -> list[Subscription]:
        """Lease subscriptions; rows another process is claiming right now are skipped, never waited for."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"UPDATE subscriptions SET lease_owner = $1, lease_until = $2 WHERE id IN ("
                "SELECT id FROM subscriptions WHERE status IN ('pending', 'active') "
                "AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $3) "
                "ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {_SUBSCRIPTION_COLUMNS}",
                owner,
                until,
                now,
                limit,
            )
        return sorted((_subscription(r) for r in rows), key=lambda s: (s.created_at, s.id))

    async def add_delivery(self, attempt: DeliveryAttempt) -> None:
        async with self._connection() as conn:
            await conn.execute(
                f"INSERT INTO webhook_deliveries ({_DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                attempt.subscription_id,
                attempt.seq,
                attempt.webhook_id,
                attempt.attempt,
                attempt.at,
                attempt.status_code,
                attempt.latency_ms,
                attempt.error,
            )

    async def list_deliveries(self, subscription_id: str, limit: int = 100) -> list[DeliveryAttempt]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = $1 "
                "ORDER BY id DESC LIMIT $2",
                subscription_id,
                limit,
            )
        return [_delivery(r) for r in rows]

    # audit ------------------------------------------------------------------------------------

    async def audit_submissions(self, query: AuditQuery) -> list[AuditedSubmission]:
        sql, args = audit_query(query)
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [AuditedSubmission(_state(r), bytes(r[14]), r[15]) for r in rows]

    async def all_versions(self, after_seq: int = 0, limit: int = 1000) -> list[RecordVersion]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_VERSION_COLUMNS} FROM record_versions WHERE seq > $1 ORDER BY seq LIMIT $2",
                after_seq,
                limit,
            )
        return [_version(r) for r in rows]

    # records ----------------------------------------------------------------------------------

    async def current_version(self, key: RecordKey) -> int | None:
        async with self._connection() as conn:
            version = await conn.fetchval(
                "SELECT version FROM records WHERE participant = $1 AND kind = $2 AND record_id = $3",
                key.participant,
                key.kind,
                key.record_id,
            )
        return int(version) if version is not None else None

    async def get_record(self, key: RecordKey) -> RecordVersion | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_VERSION_COLUMNS} FROM record_versions WHERE participant = $1 AND kind = $2 "
                "AND record_id = $3 ORDER BY version DESC LIMIT 1",
                key.participant,
                key.kind,
                key.record_id,
            )
        return _version(row) if row else None

    async def list_versions(self, key: RecordKey) -> list[RecordVersion]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_VERSION_COLUMNS} FROM record_versions WHERE participant = $1 AND kind = $2 "
                "AND record_id = $3 ORDER BY version",
                key.participant,
                key.kind,
                key.record_id,
            )
        return [_version(r) for r in rows]

    async def get_version(self, key: RecordKey, version: int) -> RecordVersion | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_VERSION_COLUMNS} FROM record_versions WHERE participant = $1 AND kind = $2 "
                "AND record_id = $3 AND version = $4",
                key.participant,
                key.kind,
                key.record_id,
                version,
            )
        return _version(row) if row else None

    async def list_records(self, query: RecordQuery) -> list[RecordVersion]:
        sql, args = records_query(query)
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [_version(r) for r in rows]
