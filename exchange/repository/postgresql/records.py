"""Reading records: the current view, every version, and filtered listings (facets and full text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchange.models import RecordCounts, RecordKey, RecordQuery, RecordVersion, Reindexed
from exchange.repository.common import VERSION_COLUMNS, record_counts, version_of
from exchange.repository.postgresql.decisions import fetch_holders, reindex_rows
from exchange.repository.postgresql.pool import PostgresPool


def records_query(query: RecordQuery) -> tuple[str, list[Any]]:
    """The SQL and arguments of a record listing: filters, then cursor order (participant, kind, id)."""
    where, args = _filters(query)

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.after is not None:
        participant, kind, record_id = query.after
        where.append(f"(r.participant, r.kind, r.record_id) > ({arg(participant)}, {arg(kind)}, {arg(record_id)})")
    sql = (
        f"SELECT {', '.join('v.' + c.strip() for c in VERSION_COLUMNS.split(','))} "
        "FROM records r JOIN record_versions v ON v.participant = r.participant AND v.kind = r.kind "
        "AND v.record_id = r.record_id AND v.version = r.version "
        f"WHERE {' AND '.join(where)} ORDER BY r.participant, r.kind, r.record_id LIMIT {arg(query.limit)}"
    )
    return sql, args


def _filters(query: RecordQuery) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (over ``records r``) and arguments ($1 …) of a query's filters, cursor aside."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["NOT r.withdrawn"]
    visible, visible_args = query.viewer.sql("r", f"${len(args) + 1}", "strpos")
    if visible:
        where.append(visible)
        args += visible_args
    for column in ("kind", "participant", "status"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"r.{column} = {arg(value)}")
    article = f"{query.instrument}#{query.article}" if query.instrument and query.article else query.instrument
    for facet, value in (("j", query.jurisdiction), ("r", query.region), ("t", query.tag), ("a", article)):
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
    return where, args


class RecordStore(PostgresPool):
    """Record reads: current versions, history, listings."""

    async def current_version(self, key: RecordKey) -> int | None:
        async with self._connection() as conn:
            version = await conn.fetchval(
                "SELECT version FROM records WHERE participant = $1 AND kind = $2 AND record_id = $3",
                key.participant,
                key.kind,
                key.record_id,
            )
        return int(version) if version is not None else None

    async def reindex(self, entries: Sequence[Reindexed]) -> int:
        async with self._transaction() as conn:
            return await reindex_rows(conn, entries)

    async def identifier_holders(self, identifiers: Sequence[str]) -> dict[str, list[RecordKey]]:
        async with self._connection() as conn:
            return await fetch_holders(conn, identifiers)

    async def get_record(self, key: RecordKey) -> RecordVersion | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = $1 AND kind = $2 "
                "AND record_id = $3 ORDER BY version DESC LIMIT 1",
                key.participant,
                key.kind,
                key.record_id,
            )
        return version_of(row) if row else None

    async def list_versions(self, key: RecordKey) -> list[RecordVersion]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = $1 AND kind = $2 "
                "AND record_id = $3 ORDER BY version",
                key.participant,
                key.kind,
                key.record_id,
            )
        return [version_of(r) for r in rows]

    async def get_version(self, key: RecordKey, version: int) -> RecordVersion | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {VERSION_COLUMNS} FROM record_versions WHERE participant = $1 AND kind = $2 "
                "AND record_id = $3 AND version = $4",
                key.participant,
                key.kind,
                key.record_id,
                version,
            )
        return version_of(row) if row else None

    async def list_records(self, query: RecordQuery) -> list[RecordVersion]:
        sql, args = records_query(query)
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [version_of(r) for r in rows]

    async def count_records(self, query: RecordQuery) -> RecordCounts:
        where, args = _filters(query)
        matching = f"FROM records r WHERE {' AND '.join(where)}"
        async with self._connection() as conn:
            kinds = await conn.fetch(f"SELECT r.kind, r.status, count(*) {matching} GROUP BY r.kind, r.status", *args)
            terms = await conn.fetch(
                f"SELECT t.facet, t.term, count(*) FROM record_terms t WHERE t.facet IN ('j', 'r', 't') "
                f"AND t.record IN (SELECT r.id {matching}) "
                "GROUP BY t.facet, t.term",
                *args,
            )
        return record_counts(kinds, terms)
