"""Federation state: what this node witnessed of other logs, and the cosignatures it collected.

Two small tables beside the repository's own, in the same database, created by this module's
adapters (their own migration component), so the repository port stays as it is:

* ``witnessed_logs``: per log origin, the latest checkpoint this node cosigned (size, root, note).
  :meth:`FederationStore.advance` replaces it only if it is still the one the caller checked against
  (compare-and-set in one statement or transaction), so concurrent ``add-checkpoint`` requests can
  never roll it back;
* ``witness_cosignatures``: per witness and checkpoint size, the cosignature line a witness gave our
  log, and per witness the size it last cosigned (where the next request starts from).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from exchange.repository.port import Repository
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase


class WitnessedCheckpoint(NamedTuple):
    """The latest checkpoint a witness cosigned for one log."""

    size: int
    root: bytes


class FederationStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def witnessed(self, origin: str) -> WitnessedCheckpoint | None:
        """The latest checkpoint cosigned for ``origin``, or None before the first."""
        ...

    async def advance(
        self, origin: str, expected: WitnessedCheckpoint | None, new: WitnessedCheckpoint, note: str
    ) -> WitnessedCheckpoint | None:
        """Store ``new`` for ``origin`` if the stored state still equals ``expected``.

        Returns None when stored, else the state found instead (the caller lost a race).
        """
        ...

    async def cosigned_size(self, witness: str) -> int | None:
        """The size ``witness`` last cosigned for our log, as far as we know (None: unknown)."""
        ...

    async def set_cosigned_size(self, witness: str, size: int) -> None:
        """Remember the size ``witness`` says it last cosigned (from its 409 answer)."""
        ...

    async def add_cosignature(self, witness: str, size: int, line: str) -> None:
        """Keep a cosignature line ``witness`` gave our checkpoint of ``size``; it last cosigned ``size``."""
        ...

    async def cosignatures(self, sizes: Sequence[int]) -> dict[int, list[str]]:
        """The cosignature lines kept for our checkpoints of ``sizes``, each ordered by witness name."""
        ...


def open_store(settings: Settings, repository: Repository) -> FederationStore:
    """The adapter for the repository's database: the same SQLite file, or the same PostgreSQL database."""
    url = settings.database_url or ""
    if url.startswith(("postgresql://", "postgres://")):
        from exchange.federation.store_postgresql import PostgresFederationStore

        return PostgresFederationStore(url)
    db = getattr(repository, "db", None)
    if not isinstance(db, SqliteDatabase):
        raise ValueError("the federation store needs the repository's SQLite or PostgreSQL database")
    from exchange.federation.store_sqlite import SqliteFederationStore

    return SqliteFederationStore(db)
