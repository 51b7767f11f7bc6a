"""Writing a batch of decisions: submission rows, record versions, change rows and the records' current view.

Everything here runs inside :meth:`SubmissionStore.decide`'s transaction, under the sequencer's lock;
:func:`exchange.sequencer.plan` has already decided what to write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from exchange.models import Decision, RecordKey, Reindexed, SubmissionState
from exchange.repository.common import (
    SUBMISSION_COLUMNS,
    VERSION_COLUMNS,
    index_terms,
    json_or_none,
    state_of,
    with_endorsement,
)
from exchange.repository.postgresql.locks import Connection
from exchange.repository.postgresql.rows import as_columns
from exchange.sequencer import Current, NewVersion
from exchange.validation import IndexFields
from exchange.visibility import pack_readers


async def fetch_states(conn: Connection, idents: Iterable[tuple[str, str]]) -> dict[tuple[str, str], SubmissionState]:
    unique = list(dict.fromkeys(idents))
    if not unique:
        return {}
    participants, ids = as_columns(unique, 2)
    rows = await conn.fetch(
        f"SELECT {', '.join('s.' + c.strip() for c in SUBMISSION_COLUMNS.split(','))} FROM submissions s "
        "JOIN unnest($1::text[], $2::text[]) AS k(participant, submission_id) "
        "ON s.participant = k.participant AND s.submission_id = k.submission_id",
        participants,
        ids,
    )
    return {(r[0], r[1]): state_of(r) for r in rows}


async def fetch_current(conn: Connection, keys: Iterable[RecordKey]) -> dict[RecordKey, Current]:
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    participants, kinds, record_ids = as_columns(((k.participant, k.kind, k.record_id) for k in unique), 3)
    rows = await conn.fetch(
        "SELECT r.participant, r.kind, r.record_id, r.version, r.withdrawn, r.content_sha256, r.seq FROM records r "
        "JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(participant, kind, record_id) "
        "ON r.participant = k.participant AND r.kind = k.kind AND r.record_id = k.record_id",
        participants,
        kinds,
        record_ids,
    )
    return {RecordKey(r[0], r[1], r[2]): Current(int(r[3]), bool(r[4]), r[5], r[6]) for r in rows}


async def fetch_holders(conn: Connection, identifiers: Sequence[str]) -> dict[str, list[RecordKey]]:
    """The current records holding each identifier (see :meth:`Records.identifier_holders`)."""
    unique = list(dict.fromkeys(identifiers))
    if not unique:
        return {}
    rows = await conn.fetch(
        "SELECT t.term, r.participant, r.kind, r.record_id FROM record_terms t JOIN records r ON r.id = t.record "
        "WHERE t.facet = 'i' AND t.term = ANY($1::text[]) AND NOT r.withdrawn "
        "ORDER BY t.term, r.participant, r.kind, r.record_id",
        unique,
    )
    found: dict[str, list[RecordKey]] = {}
    for term, participant, kind, record_id in rows:
        found.setdefault(term, []).append(RecordKey(participant, kind, record_id))
    return found


_UPSERT_SUBMISSION = (
    "INSERT INTO submissions (participant, submission_id, kind, jws_sha256, serialization, body, "
    "received_at, status, kid, payload_sha256, errors, record, version, seq, log_index, decided_at, unchanged, "
    "review) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) "
    "ON CONFLICT (participant, submission_id) DO UPDATE SET kind = excluded.kind, "
    "status = excluded.status, kid = excluded.kid, payload_sha256 = excluded.payload_sha256, "
    "errors = excluded.errors, record = excluded.record, version = excluded.version, "
    "seq = excluded.seq, log_index = excluded.log_index, decided_at = excluded.decided_at, "
    "unchanged = excluded.unchanged, review = excluded.review"
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
                s.unchanged,
                json_or_none(s.review),
            )
            for d, s in decided
        ],
    )


async def write_endorsed(conn: Connection, endorsed: Sequence[tuple[RecordKey, int, dict[str, Any]]]) -> None:
    """Add each endorsement to the version it endorses (in order: two may endorse one version)."""
    for key, number, endorsement in endorsed:
        row = await conn.fetchrow(
            "SELECT endorsements FROM record_versions WHERE participant = $1 AND kind = $2 AND record_id = $3 "
            "AND version = $4",
            key.participant,
            key.kind,
            key.record_id,
            number,
        )
        if row is None:  # a mirror that may not see that version
            continue
        await conn.execute(
            "UPDATE record_versions SET endorsements = $5 WHERE participant = $1 AND kind = $2 AND record_id = $3 "
            "AND version = $4",
            key.participant,
            key.kind,
            key.record_id,
            number,
            with_endorsement(row[0] if row else None, endorsement),
        )


async def write_reviewed(conn: Connection, reviewed: Sequence[SubmissionState]) -> None:
    """The new status of submissions an editor's review settled (their receipt and log entry stay)."""
    if not reviewed:
        return
    await conn.executemany(
        "UPDATE submissions SET status = $3, record = $4, version = $5, seq = $6, unchanged = $7, review = $8 "
        "WHERE participant = $1 AND submission_id = $2",
        [
            (s.participant, s.submission_id, s.status, s.record, s.version, s.seq, s.unchanged, json_or_none(s.review))
            for s in reviewed
        ],
    )


@dataclass
class _RecordRow:
    """The current-view row of one record after a batch's versions are applied in order."""

    version: int
    withdrawn: bool
    content_sha256: str | None
    seq: int
    visibility: str = "public"
    readers: str | None = None
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
        row = rows.setdefault(new.key, _RecordRow(new.version, withdrawn, new.decision.content_sha256, new.seq))
        row.version, row.withdrawn = new.version, withdrawn
        row.content_sha256, row.seq = new.decision.content_sha256, new.seq
        row.visibility, row.readers = new.decision.visibility, pack_readers(new.decision.readers)
        if index is not None:
            row.status = index.status if index.status is not None else row.status
            row.date = index.date if index.date is not None else row.date
            if not withdrawn:
                row.index = index
    for row in rows.values():
        if row.index is not None:
            row.terms = index_terms(row.index)
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
        participants, kinds, record_ids = as_columns(((k.participant, k.kind, k.record_id) for k in unknown), 3)
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
                v.accepted_at or now,
                v.log_index,
                v.seq,
                json_or_none(v.review),
                None,  # endorsements: added later, by the owner's own signature
                v.decision.visibility,
                pack_readers(v.decision.readers),
            )
            for v in versions
        ],
        columns=[c.strip() for c in VERSION_COLUMNS.split(",")],
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
                v.decision.visibility,
                pack_readers(v.decision.readers),
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
            "visibility",
            "readers",
        ),
    )
    await _write_records(conn, _fold_records(versions))


async def _write_records(conn: Connection, rows: Mapping[RecordKey, _RecordRow]) -> None:
    columns = as_columns(
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
                row.content_sha256,
                row.seq,
                row.visibility,
                row.readers,
            )
            for key, row in rows.items()
        ),
        13,
    )
    stored = await conn.fetch(
        "INSERT INTO records (participant, kind, record_id, version, withdrawn, status, date, title, body, "
        "content_sha256, seq, visibility, readers) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::bool[], $6::text[], "
        "$7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[], $13::text[]) "
        "ON CONFLICT (participant, kind, record_id) DO UPDATE SET version = excluded.version, "
        "withdrawn = excluded.withdrawn, content_sha256 = excluded.content_sha256, seq = excluded.seq, "
        "visibility = excluded.visibility, readers = excluded.readers, "
        "status = coalesce(excluded.status, records.status), "
        "date = coalesce(excluded.date, records.date), title = coalesce(excluded.title, records.title), "
        "body = coalesce(excluded.body, records.body) "
        "RETURNING id, participant, kind, record_id",
        *columns,
    )
    ids = {RecordKey(r[1], r[2], r[3]): int(r[0]) for r in stored}
    await _replace_terms(conn, {ids[key]: row.terms for key, row in rows.items() if row.index is not None})


async def reindex_rows(conn: Connection, entries: Sequence[Reindexed]) -> int:
    """Rewrite the index and content digest of current records (see :meth:`Records.reindex`)."""
    if not entries:
        return 0
    columns = as_columns(
        (
            (
                e.key.participant,
                e.key.kind,
                e.key.record_id,
                e.version,
                e.content_sha256,
                e.index.status,
                e.index.date,
                e.index.title,
                e.index.text,
            )
            for e in entries
        ),
        9,
    )
    stored = await conn.fetch(
        "UPDATE records r SET content_sha256 = k.digest, status = coalesce(k.status, r.status), "
        "date = coalesce(k.date, r.date), title = k.title, body = k.body "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[], $6::text[], $7::text[], "
        "$8::text[], $9::text[]) AS k(participant, kind, record_id, version, digest, status, date, title, body) "
        "WHERE r.participant = k.participant AND r.kind = k.kind AND r.record_id = k.record_id "
        "AND r.version = k.version AND NOT r.withdrawn "
        "RETURNING r.id, r.participant, r.kind, r.record_id",
        *columns,
    )
    terms = {e.key: index_terms(e.index) for e in entries}
    await _replace_terms(conn, {int(r[0]): terms[RecordKey(r[1], r[2], r[3])] for r in stored})
    return len(stored)


async def _replace_terms(conn: Connection, reindexed: Mapping[int, list[tuple[str, str]]]) -> None:
    """Replace the search terms of the records (by row id) with the ones given."""
    if not reindexed:
        return
    await conn.execute("DELETE FROM record_terms WHERE record = ANY($1::int8[])", list(reindexed))
    await conn.copy_records_to_table(
        "record_terms",
        records=[(record, facet, term) for record, terms in reindexed.items() for facet, term in terms],
        columns=("record", "facet", "term"),
    )
