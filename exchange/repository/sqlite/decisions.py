"""Writing receipts and decisions: submission rows, record versions, change rows and the records' current view.

Everything here runs inside the caller's write transaction: the repository's own (:meth:`SubmissionStore.receive`,
:meth:`SubmissionStore.decide`), or the one it shares with the embedded queue (:mod:`exchange.handover`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from exchange import times
from exchange.models import Decision, QueuedSubmission, RecordKey, Reindexed, SubmissionState
from exchange.repository.common import (
    SUBMISSION_COLUMNS,
    VERSION_COLUMNS,
    identifiers_of,
    index_terms,
    involved,
    json_or_none,
    state_of,
    with_endorsement,
)
from exchange.repository.sqlite.log import append_log, log_size
from exchange.sequencer import Current, NewVersion, plan
from exchange.validation import IndexFields
from exchange.visibility import pack_readers


def _receipt_values(sub: QueuedSubmission) -> tuple[Any, ...]:
    """The submission's columns as received: participant, submission_id, kind, jws_sha256, serialization, body,
    received_at."""
    return (sub.participant, sub.submission_id, sub.kind, sub.jws_sha256, sub.serialization, sub.body, sub.received_at)


def receive_rows(conn: sqlite3.Connection, submissions: Sequence[QueuedSubmission]) -> list[SubmissionState | None]:
    """Record receipts inside the caller's transaction; for each, None when new, else the state stored."""
    out: list[SubmissionState | None] = []
    for sub in submissions:
        cur = conn.execute(
            "INSERT INTO submissions (participant, submission_id, kind, jws_sha256, serialization, body, "
            "received_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'received') "
            "ON CONFLICT (participant, submission_id) DO NOTHING",
            _receipt_values(sub),
        )
        if cur.rowcount:
            out.append(None)
        else:
            row = conn.execute(
                f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE participant = ? AND submission_id = ?",
                (sub.participant, sub.submission_id),
            ).fetchone()
            out.append(state_of(row))
    return out


def holders_of(conn: sqlite3.Connection, identifiers: Sequence[str]) -> dict[str, list[RecordKey]]:
    """The current records holding each identifier (see :meth:`Records.identifier_holders`)."""
    unique = list(dict.fromkeys(identifiers))
    found: dict[str, list[RecordKey]] = {}
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        rows = conn.execute(
            "SELECT t.term, r.participant, r.kind, r.record_id FROM record_terms t JOIN records r ON r.id = t.record "
            f"WHERE t.facet = 'i' AND t.term IN ({', '.join('?' * len(chunk))}) AND NOT r.withdrawn "
            "ORDER BY t.term, r.participant, r.kind, r.record_id",
            chunk,
        )
        for term, participant, kind, record_id in rows:
            found.setdefault(term, []).append(RecordKey(participant, kind, record_id))
    return found


def decide_rows(conn: sqlite3.Connection, decisions: Sequence[Decision]) -> list[SubmissionState]:
    """Sequence and record decisions inside the caller's transaction (see :meth:`SqliteRepository.decide`)."""
    return _decide(conn, decisions, times.iso(times.now()))


def _decide(conn: sqlite3.Connection, decisions: Sequence[Decision], now: str) -> list[SubmissionState]:
    existing: dict[tuple[str, str], SubmissionState] = {}
    current: dict[RecordKey, Current] = {}
    for decision in decisions:
        for ident in involved(decision):
            row = conn.execute(
                f"SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE participant = ? AND submission_id = ?", ident
            ).fetchone()
            if row is not None:
                existing[ident] = state_of(row)
        key = decision.applied.record
        if key is not None and key not in current:
            rec = conn.execute(
                "SELECT version, withdrawn, content_sha256, seq FROM records "
                "WHERE participant = ? AND kind = ? AND record_id = ?",
                (key.participant, key.kind, key.record_id),
            ).fetchone()
            if rec is not None:
                current[key] = Current(rec[0], bool(rec[1]), rec[2], rec[3])
    seq_row = conn.execute("SELECT max(seq) FROM changes").fetchone()
    held = holders_of(conn, identifiers_of(decisions))
    result = plan(decisions, existing, current, log_size(conn), (seq_row[0] or 0) + 1, now, held)
    write_decided(conn, result.decided)
    for state in result.reviewed:
        conn.execute(
            "UPDATE submissions SET status = ?, record = ?, version = ?, seq = ?, unchanged = ?, review = ? "
            "WHERE participant = ? AND submission_id = ?",
            (
                state.status,
                state.record,
                state.version,
                state.seq,
                int(state.unchanged),
                json_or_none(state.review),
                state.participant,
                state.submission_id,
            ),
        )
    write_versions(conn, result.versions, now)
    write_endorsed(conn, result.endorsed)
    append_log(conn, result.entries)
    return result.states


def write_decided(conn: sqlite3.Connection, decided: Sequence[tuple[Decision, SubmissionState]]) -> None:
    """Store decided submissions (their bytes as received, and their outcome)."""
    for decision, state in decided:
        sub = decision.submission
        conn.execute(
            "INSERT INTO submissions (participant, submission_id, kind, jws_sha256, serialization, body, "
            "received_at, status, kid, payload_sha256, errors, record, version, seq, log_index, decided_at, "
            "unchanged, review) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (participant, submission_id) DO UPDATE SET kind = excluded.kind, "
            "status = excluded.status, kid = excluded.kid, payload_sha256 = excluded.payload_sha256, "
            "errors = excluded.errors, record = excluded.record, version = excluded.version, "
            "seq = excluded.seq, log_index = excluded.log_index, decided_at = excluded.decided_at, "
            "unchanged = excluded.unchanged, review = excluded.review",
            (
                *_receipt_values(sub),
                state.status,
                state.kid,
                decision.payload_sha256,
                orjson.dumps(state.errors).decode() if state.errors else None,
                state.record,
                state.version,
                state.seq,
                state.log_index,
                state.decided_at,
                int(state.unchanged),
                json_or_none(state.review),
            ),
        )


def write_endorsed(conn: sqlite3.Connection, endorsed: Sequence[tuple[RecordKey, int, dict[str, Any]]]) -> None:
    """Add each endorsement to the version it endorses (in order: two may endorse one version)."""
    for key, number, endorsement in endorsed:
        row = conn.execute(
            "SELECT endorsements FROM record_versions WHERE participant = ? AND kind = ? AND record_id = ? "
            "AND version = ?",
            (key.participant, key.kind, key.record_id, number),
        ).fetchone()
        if row is None:  # a mirror that may not see that version
            continue
        conn.execute(
            "UPDATE record_versions SET endorsements = ? WHERE participant = ? AND kind = ? AND record_id = ? "
            "AND version = ?",
            (with_endorsement(row[0], endorsement), key.participant, key.kind, key.record_id, number),
        )


def write_versions(conn: sqlite3.Connection, versions: Sequence[NewVersion], now: str) -> None:
    """Store new record versions with their changes, and the records' current view and search index."""
    for new in versions:
        _apply_version(
            conn, new.key, new.version, new.decision, new.seq, new.log_index, new.accepted_at or now, new.review
        )


def _apply_version(
    conn: sqlite3.Connection,
    key: RecordKey,
    version: int,
    decision: Decision,
    seq: int,
    log_index: int,
    now: str,
    review: dict[str, Any] | None,
) -> None:
    sub = decision.submission
    content = decision.content.decode() if decision.content is not None else None
    readers = pack_readers(decision.readers)
    conn.execute(
        f"INSERT INTO record_versions ({VERSION_COLUMNS}) VALUES ({', '.join('?' * 18)})",
        (
            key.participant,
            key.kind,
            key.record_id,
            version,
            decision.action,
            decision.schema,
            content,
            sub.submission_id,
            decision.kid,
            sub.jws_sha256,
            sub.received_at,
            now,
            log_index,
            seq,
            json_or_none(review),
            None,  # endorsements: added later, by the owner's own signature
            decision.visibility,
            readers,
        ),
    )
    if decision.index is not None and decision.index.jurisdictions:
        jurisdiction: str | None = decision.index.jurisdictions[0]
    else:  # a withdrawal: the jurisdiction the record had
        row = conn.execute(
            "SELECT jurisdiction FROM changes WHERE participant = ? AND kind = ? AND record_id = ? "
            "ORDER BY seq DESC LIMIT 1",
            (key.participant, key.kind, key.record_id),
        ).fetchone()
        jurisdiction = row[0] if row else None
    conn.execute(
        "INSERT INTO changes (seq, participant, kind, record_id, version, action, log_index, submission_id, "
        "kid, received_at, jurisdiction, visibility, readers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            key.participant,
            key.kind,
            key.record_id,
            version,
            decision.action,
            log_index,
            sub.submission_id,
            decision.kid,
            sub.received_at,
            jurisdiction,
            decision.visibility,
            readers,
        ),
    )
    withdrawn = decision.action == "withdraw"
    index = decision.index
    row = conn.execute(
        "INSERT INTO records (participant, kind, record_id, version, withdrawn, status, date, content_sha256, seq, "
        "visibility, readers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (participant, kind, record_id) "
        "DO UPDATE SET version = excluded.version, withdrawn = excluded.withdrawn, "
        "content_sha256 = excluded.content_sha256, seq = excluded.seq, visibility = excluded.visibility, "
        "readers = excluded.readers, "
        "status = coalesce(excluded.status, records.status), date = coalesce(excluded.date, records.date) "
        "RETURNING id",
        (
            key.participant,
            key.kind,
            key.record_id,
            version,
            int(withdrawn),
            index.status if index else None,
            index.date if index else None,
            decision.content_sha256,
            seq,
            decision.visibility,
            readers,
        ),
    ).fetchone()
    if withdrawn or index is None:
        return
    _write_index(conn, row[0], index)


def reindex_rows(conn: sqlite3.Connection, entries: Sequence[Reindexed]) -> int:
    """Rewrite the index and content digest of current records (see :meth:`Records.reindex`)."""
    done = 0
    for entry in entries:
        key, index = entry.key, entry.index
        row = conn.execute(
            "UPDATE records SET content_sha256 = ?, status = coalesce(?, status), date = coalesce(?, date) "
            "WHERE participant = ? AND kind = ? AND record_id = ? AND version = ? AND NOT withdrawn RETURNING id",
            (entry.content_sha256, index.status, index.date, key.participant, key.kind, key.record_id, entry.version),
        ).fetchone()
        if row is not None:
            _write_index(conn, row[0], index)
            done += 1
    return done


def _write_index(conn: sqlite3.Connection, record_id: int, index: IndexFields) -> None:
    """A record's search terms and text. A new version often leaves them as they were: rewrite only what
    changed (re-indexing the text means tokenizing both the old and the new one)."""
    terms = index_terms(index)
    stored = conn.execute("SELECT facet, term FROM record_terms WHERE record = ? ORDER BY facet, term", (record_id,))
    if stored.fetchall() != terms:
        conn.execute("DELETE FROM record_terms WHERE record = ?", (record_id,))
        conn.executemany(
            "INSERT INTO record_terms (record, facet, term) VALUES (?, ?, ?)",
            [(record_id, facet, term) for facet, term in terms],
        )
    text = (index.title, index.text)
    if conn.execute("SELECT title, body FROM records_fts WHERE rowid = ?", (record_id,)).fetchone() != text:
        conn.execute("DELETE FROM records_fts WHERE rowid = ?", (record_id,))
        conn.execute("INSERT INTO records_fts (rowid, title, body) VALUES (?, ?, ?)", (record_id, *text))
