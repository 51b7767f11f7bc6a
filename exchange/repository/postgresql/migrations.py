"""Schema migrations: the scripts of :mod:`exchange.repository.postgresql.schema`, applied once each, in order."""

from __future__ import annotations

from collections.abc import Sequence

from exchange.repository.postgresql.locks import MIGRATION_LOCK, Connection, lock
from exchange.repository.postgresql.schema import MIGRATIONS

COMPONENT = "repository"


async def migrate(conn: Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Apply the migrations not applied yet, in the caller's transaction; return the schema version.

    The transaction-scoped advisory lock makes processes that start together apply them one at a time.
    """
    await lock(conn, MIGRATION_LOCK)
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
