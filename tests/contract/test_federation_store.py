"""The federation store on every repository database: compare-and-set and kept cosignatures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from exchange.backends import open_repository
from exchange.federation.store import FederationStore, WitnessedCheckpoint, open_store
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase


@pytest.fixture
async def store(repository_backend: str, contract_settings: Settings) -> AsyncIterator[FederationStore]:
    repository = open_repository(contract_settings, SqliteDatabase)
    await repository.open()
    opened = open_store(contract_settings, repository)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
        await repository.close()


A = WitnessedCheckpoint(5, b"a" * 32)
B = WitnessedCheckpoint(8, b"b" * 32)
C = WitnessedCheckpoint(9, b"c" * 32)


async def test_advance_is_a_compare_and_set(store: FederationStore) -> None:
    assert await store.witnessed("log.example") is None
    assert await store.advance("log.example", None, A, "note a") is None
    assert await store.witnessed("log.example") == A
    # A second "first" checkpoint, or one checked against a state that is gone, loses.
    assert await store.advance("log.example", None, B, "note b") == A
    assert await store.advance("log.example", WitnessedCheckpoint(5, b"z" * 32), B, "note b") == A
    assert await store.advance("log.example", A, B, "note b") is None
    assert await store.advance("log.example", A, C, "note c") == B
    assert await store.witnessed("log.example") == B
    assert await store.witnessed("other.example") is None


async def test_concurrent_advances_from_one_state_let_one_win(store: FederationStore) -> None:
    await store.advance("log.example", None, A, "note a")
    outcomes = await asyncio.gather(*(store.advance("log.example", A, new, "n") for new in (B, C)))
    assert sorted(o is None for o in outcomes) == [False, True]
    winner = B if outcomes[0] is None else C
    assert await store.witnessed("log.example") == winner
    assert [o for o in outcomes if o is not None] == [winner]


async def test_cosignatures_are_kept_per_size_and_witness(store: FederationStore) -> None:
    assert await store.cosigned_size("w1") is None
    await store.set_cosigned_size("w1", 3)
    assert await store.cosigned_size("w1") == 3
    await store.add_cosignature("w2", 5, "\u2014 w2 line5\n")
    await store.add_cosignature("w1", 5, "\u2014 w1 line5\n")
    await store.add_cosignature("w1", 7, "\u2014 w1 line7\n")
    assert await store.cosigned_size("w1") == 7
    found = await store.cosignatures([5, 7, 9])
    assert found == {5: ["\u2014 w1 line5\n", "\u2014 w2 line5\n"], 7: ["\u2014 w1 line7\n"]}
    assert await store.cosignatures([]) == {}
