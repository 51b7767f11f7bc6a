"""The change feed and webhook subscriptions (with their delivery log)."""

from __future__ import annotations

import sqlite3
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
from exchange.repository.sqlite.store import SqliteStore


class FeedStore(SqliteStore):
    """The change feed and webhook subscriptions."""

    async def last_seq(self) -> int:
        row = await self.db.read(lambda c: c.execute("SELECT max(seq) FROM changes").fetchone())
        return int(row[0] or 0)

    async def list_changes(self, query: ChangeQuery) -> list[Change]:
        where: list[str] = ["c.seq > ?"]
        args: list[Any] = [query.since]
        for column, values in (
            ("kind", query.kinds),
            ("participant", query.participants),
            ("jurisdiction", query.jurisdictions),
        ):
            if values:
                where.append(f"c.{column} IN ({', '.join('?' * len(values))})")
                args += list(values)
        content = "v.content, v.accepted_at, v.review" if query.include_content else "NULL, NULL, NULL"
        jws = "s.body" if query.include_jws else "NULL"
        sql = (
            f"SELECT {CHANGE_COLUMNS}, {content}, {jws} FROM changes c "
            + (
                "LEFT JOIN record_versions v ON v.participant = c.participant AND v.kind = c.kind "
                "AND v.record_id = c.record_id AND v.version = c.version "
                if query.include_content
                else ""
            )
            + (
                # the submitter is the participant of the key (an editor's, for an entry on a State's behalf)
                "LEFT JOIN submissions s ON s.participant = substr(c.kid, 1, instr(c.kid, '/') - 1) "
                "AND s.submission_id = c.submission_id "
                if query.include_jws
                else ""
            )
            + f"WHERE {' AND '.join(where)} ORDER BY c.seq LIMIT ?"
        )
        rows = await self.db.read(lambda c: c.execute(sql, [*args, query.limit]).fetchall())
        return [change_of(r) for r in rows]

    async def add_subscription(self, subscription: Subscription) -> None:
        row = subscription_row(subscription)

        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row
                )
            except sqlite3.IntegrityError:
                raise ExchangeError(Problems.ALREADY_EXISTS, f"subscription {subscription.id} already exists") from None

        await self.db.write(run)

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
            ).fetchone()
        )
        return subscription_from_row(row) if row else None

    async def list_subscriptions(self, owner: str | None = None) -> list[Subscription]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            if owner is None:
                return conn.execute(
                    f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY created_at, id"
                ).fetchall()
            return conn.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE owner = ? ORDER BY created_at, id", (owner,)
            ).fetchall()

        return [subscription_from_row(r) for r in await self.db.read(run)]

    async def update_subscription(
        self, subscription_id: str, fields: Mapping[str, Any], expect: Mapping[str, Any] | None = None
    ) -> bool:
        sets, args = subscription_update(fields, expect or {}, "?")

        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute(sets, [*args[: len(fields)], subscription_id, *args[len(fields) :]]).rowcount > 0

        return await self.db.write(run)

    async def delete_subscription(self, subscription_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,)).rowcount > 0

        return await self.db.write(run)

    async def claim_subscriptions(self, owner: str, until: str, now: str, limit: int) -> list[Subscription]:
        def run(conn: sqlite3.Connection) -> list[Subscription]:
            rows = conn.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE status IN ('pending', 'active') "
                "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) ORDER BY created_at, id LIMIT ?",
                (owner, now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE subscriptions SET lease_owner = ?, lease_until = ? WHERE id = ?",
                [(owner, until, r[0]) for r in rows],
            )
            claimed = [subscription_from_row(r) for r in rows]
            for sub in claimed:
                sub.lease_owner, sub.lease_until = owner, until
            return claimed

        return await self.db.write(run)

    async def add_delivery(
        self, attempt: DeliveryAttempt, update: Mapping[str, Any] | None = None, expect: Mapping[str, Any] | None = None
    ) -> bool:
        sets, args = subscription_update(update, expect or {}, "?") if update else ("", [])

        def run(conn: sqlite3.Connection) -> bool:
            conn.execute(
                f"INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.subscription_id,
                    attempt.seq,
                    attempt.webhook_id,
                    attempt.attempt,
                    attempt.at,
                    attempt.status_code,
                    attempt.latency_ms,
                    attempt.error,
                ),
            )
            if not update:
                return True
            values = [*args[: len(update)], attempt.subscription_id, *args[len(update) :]]
            return conn.execute(sets, values).rowcount > 0

        return await self.db.write(run)

    async def list_deliveries(self, subscription_id: str, limit: int = 100) -> list[DeliveryAttempt]:
        rows = await self.db.read(
            lambda c: c.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = ? ORDER BY id DESC LIMIT ?",
                (subscription_id, limit),
            ).fetchall()
        )
        return [delivery_of(r) for r in rows]
