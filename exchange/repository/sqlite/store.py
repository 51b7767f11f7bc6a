"""The database file every part of the embedded adapter works through, and what its failures mean.

:class:`exchange.sqlitedb.SqliteDatabase` runs every read and write, and turns a file that cannot be
opened, read or written into :class:`exchange.errors.Unavailable`; the embedded queue shares the same
object when it lives in the same file (see :mod:`exchange.handover`).
"""

from __future__ import annotations

from exchange.repository.sqlite.schema import MIGRATIONS
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase


class SqliteStore:
    """Opens the database (applying the repository's migrations first) and lends it to each domain's part."""

    def __init__(self, db: SqliteDatabase, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def open(self) -> None:
        await self.db.open("repository", MIGRATIONS)

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())
