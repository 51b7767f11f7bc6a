"""Record reads and queries (facets, dates, full-text search over FTS5)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from exchange.models import RecordCounts, RecordKey, RecordQuery, RecordVersion, Reindexed
from exchange.repository.common import VERSION_COLUMNS, record_counts, version_of
from exchange.repository.sqlite.decisions import holders_of, reindex_rows
from exchange.repository.sqlite.store import SqliteStore


class RecordStore(SqliteStore):
    """Record versions: the current one, history, and queries."""

    async def current_version(self, key: RecordKey) -> int | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT version FROM records WHERE participant = ? AND kind = ? AND record_id = ?",
                (key.participant, key.kind, key.record_id),
            ).fetchone()
        )
        return int(row[0]) if row else None

    async def reindex(self, entries: Sequence[Reindexed]) -> int:
        return await self.db.write(lambda c: reindex_rows(c, entries))

    async def identifier_holders(self, identifiers: Sequence[str]) -> dict[str, list[RecordKey]]:
        return await self.db.read(lambda c: holders_of(c, identifiers))

    async def get_record(self, key: RecordKey) -> RecordVersion | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = ? AND kind = ? "
                "AND record_id = ? ORDER BY version DESC LIMIT 1",
                (key.participant, key.kind, key.record_id),
            ).fetchone()
        )
        return version_of(row) if row else None

    async def list_versions(self, key: RecordKey) -> list[RecordVersion]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = ? AND kind = ? "
                "AND record_id = ? ORDER BY version",
                (key.participant, key.kind, key.record_id),
            ).fetchall()
        )
        return [version_of(r) for r in rows]

    async def get_version(self, key: RecordKey, version: int) -> RecordVersion | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = ? AND kind = ? "
                "AND record_id = ? AND version = ?",
                (key.participant, key.kind, key.record_id, version),
            ).fetchone()
        )
        return version_of(row) if row else None

    async def list_records(self, query: RecordQuery) -> list[RecordVersion]:
        where, args = _filters(query)
        if query.after is not None:
            where.append("(r.participant, r.kind, r.record_id) > (?, ?, ?)")
            args += list(query.after)
        sql = (
            f"SELECT {', '.join('v.' + c.strip() for c in VERSION_COLUMNS.split(','))} "
            "FROM records r JOIN record_versions v ON v.participant = r.participant AND v.kind = r.kind "
            "AND v.record_id = r.record_id AND v.version = r.version "
            f"WHERE {' AND '.join(where)} ORDER BY r.participant, r.kind, r.record_id LIMIT ?"
        )
        args.append(query.limit)
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        return [version_of(r) for r in rows]

    async def count_records(self, query: RecordQuery) -> RecordCounts:
        where, args = _filters(query)
        matching = f"FROM records r WHERE {' AND '.join(where)}"

        def read(c: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            by_kind = c.execute(f"SELECT r.kind, r.status, count(*) {matching} GROUP BY r.kind, r.status", args)
            by_term = c.execute(
                f"SELECT t.facet, t.term, count(*) FROM record_terms t WHERE t.facet IN ('j', 'r', 't') "
                f"AND t.record IN (SELECT r.id {matching}) "
                "GROUP BY t.facet, t.term",
                args,
            )
            return by_kind.fetchall(), by_term.fetchall()

        kinds, terms = await self.db.read(read)
        return record_counts(kinds, terms)


def _filters(query: RecordQuery) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (over ``records r``) and arguments of a query's filters, cursor aside."""
    where = ["r.withdrawn = 0"]
    args: list[Any] = []
    visible, visible_args = query.viewer.sql("r", "?")
    if visible:
        where.append(visible)
        args += visible_args
    for column in ("kind", "participant", "status"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"r.{column} = ?")
            args.append(value)
    article = f"{query.instrument}#{query.article}" if query.instrument and query.article else query.instrument
    for facet, value in (("j", query.jurisdiction), ("r", query.region), ("t", query.tag), ("a", article)):
        if value is None:
            continue
        if facet == "j":  # a country names few records: read them from the terms' key, then filter
            where.append("r.id IN (SELECT t.record FROM record_terms t WHERE t.facet = ? AND t.term = ?)")
        else:  # a region or a subject names many: walk the records in order and stop at the page's end
            where.append("EXISTS (SELECT 1 FROM record_terms t WHERE t.record = r.id AND t.facet = ? AND t.term = ?)")
        args += [facet, value]
    if query.date_from is not None:
        where.append("r.date >= ?")
        args.append(query.date_from)
    if query.date_to is not None:
        where.append("r.date <= ?")
        args.append(query.date_to)
    if query.q:
        where.append("r.id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
        args.append(_fts_query(query.q))
    return where, args


def _fts_query(text: str) -> str:
    """Words of the user's query as FTS5 string literals, all required: no query syntax leaks through."""
    words = [w for w in text.replace('"', " ").split() if w]
    return " ".join(f'"{w}"' for w in words) or '""'
