"""The repository port and its adapters (SQLite embedded, PostgreSQL at scale)."""

from exchange.repository.port import Repository

__all__ = ["Repository"]
