"""The change feed and webhook subscriptions: reading changes by seq, leasing subscriptions, logging deliveries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exchange.errors import ExchangeError, Problems
from exchange.models import Change, ChangeQuery, DeliveryAttempt, Subscription
from exchange.repository.common import (
    CHANGE_COLUMNS,
    DELIVERY_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    change_of,
    delivery_of,
    subscription_from_row,
    subscription_row,
    subscription_update,
)
from exchange.repository.postgresql.pool import PostgresPool


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
            "LEFT JOIN record_versions v ON v.participant = c.participant AND v.kind = c.kind "
            "AND v.record_id = c.record_id AND v.version = c.version "
        )
    if query.include_jws:
        # the submitter is the participant of the key (an editor's, for an entry on a State's behalf)
        joins += (
            "LEFT JOIN submissions s ON s.participant = split_part(c.kid, '/', 1) "
            "AND s.submission_id = c.submission_id "
        )
    content = "v.content, v.accepted_at, v.review" if query.include_content else "NULL, NULL, NULL"
    jws = "s.body" if query.include_jws else "NULL::bytea"
    args.append(query.limit)
    sql = (
        f"SELECT {CHANGE_COLUMNS}, {content}, {jws} FROM changes c {joins}"
        f"WHERE {' AND '.join(where)} ORDER BY c.seq LIMIT ${len(args)}"
    )
    return sql, args


class FeedStore(PostgresPool):
    """The change feed, webhook subscriptions (compare-and-set updates, leases) and delivery attempts."""

    async def last_seq(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM changes"))

    async def list_changes(self, query: ChangeQuery) -> list[Change]:
        sql, args = changes_query(query)
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [change_of(r) for r in rows]

    async def add_subscription(self, subscription: Subscription) -> None:
        row = subscription_row(subscription)
        placeholders = ", ".join(f"${n}" for n in range(1, len(row) + 1))
        async with self._connection() as conn:
            added = await conn.fetchval(
                f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ({placeholders}) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
                *row,
            )
        if added is None:
            raise ExchangeError(Problems.ALREADY_EXISTS, f"subscription {subscription.id!r} already exists")

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1", subscription_id
            )
        return subscription_from_row(row) if row else None

    async def list_subscriptions(self, owner: str | None = None) -> list[Subscription]:
        async with self._connection() as conn:
            if owner is None:
                rows = await conn.fetch(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY created_at, id")
            else:
                rows = await conn.fetch(
                    f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE owner = $1 ORDER BY created_at, id",
                    owner,
                )
        return [subscription_from_row(r) for r in rows]

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
                f"RETURNING {SUBSCRIPTION_COLUMNS}",
                owner,
                until,
                now,
                limit,
            )
        return sorted((subscription_from_row(r) for r in rows), key=lambda s: (s.created_at, s.id))

    async def add_delivery(
        self, attempt: DeliveryAttempt, update: Mapping[str, Any] | None = None, expect: Mapping[str, Any] | None = None
    ) -> bool:
        async with self._transaction() as conn:
            await conn.execute(
                f"INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                attempt.subscription_id,
                attempt.seq,
                attempt.webhook_id,
                attempt.attempt,
                attempt.at,
                attempt.status_code,
                attempt.latency_ms,
                attempt.error,
            )
            if not update:
                return True
            sql, args = subscription_update(update, expect or {}, "$")
            values = [*args[: len(update)], attempt.subscription_id, *args[len(update) :]]
            return await conn.fetchval(sql + " RETURNING 1", *values) is not None

    async def list_deliveries(self, subscription_id: str, limit: int = 100) -> list[DeliveryAttempt]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = $1 "
                "ORDER BY id DESC LIMIT $2",
                subscription_id,
                limit,
            )
        return [delivery_of(r) for r in rows]
