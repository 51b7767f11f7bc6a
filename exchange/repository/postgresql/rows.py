"""Rows as PostgreSQL arrays: what ``unnest`` takes. The column lists and row converters both adapters
share are in :mod:`exchange.repository.common`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def as_columns(rows: Iterable[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows turned into ``width`` column lists, for ``unnest($1::type[], …)``."""
    out: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(out, row, strict=True):
            column.append(value)
    return out
