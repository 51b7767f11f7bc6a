"""Group commit: concurrent callers share one flush; a failed flush fails exactly its own items."""

from __future__ import annotations

import asyncio

import pytest

from exchange.batching import Batcher


async def test_concurrent_callers_share_one_flush_and_get_their_own_results() -> None:
    flushes: list[list[int]] = []
    gate = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        flushes.append(items)
        await gate.wait()
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(flush)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)  # the first flush starts with the one item then pending
    rest = [asyncio.create_task(batcher.submit(i)) for i in (2, 3, 4)]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 10
    assert await asyncio.gather(*rest) == [20, 30, 40]
    assert flushes == [[1], [2, 3, 4]]  # the three that came during the first flush went together


async def test_max_batch_splits_a_burst() -> None:
    flushes: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushes.append(items)
        return items

    batcher: Batcher[int, int] = Batcher(flush, max_batch=2)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [0, 1, 2, 3, 4]
    assert flushes == [[0, 1], [2, 3], [4]]


async def test_a_failed_flush_fails_its_items_and_the_next_flush_still_runs() -> None:
    calls = 0

    async def flush(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        return [s.upper() for s in items]

    batcher: Batcher[str, str] = Batcher(flush, max_batch=2)
    results = await asyncio.gather(*(batcher.submit(s) for s in ("a", "b", "c")), return_exceptions=True)
    assert [type(r) for r in results[:2]] == [RuntimeError, RuntimeError]
    assert results[2] == "C"
    assert await batcher.submit("d") == "D"


async def test_a_flush_that_answers_the_wrong_number_of_results_fails_loudly() -> None:
    async def flush(items: list[int]) -> list[int]:
        return []

    batcher: Batcher[int, int] = Batcher(flush)
    with pytest.raises(ValueError, match="answered 0 results for 1 items"):
        await batcher.submit(1)
