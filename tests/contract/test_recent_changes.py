"""The shared window of recent changes answers exactly as the repository's own feed query, on each
repository adapter: same changes, same order, same filters, and the repository itself for a reader
older than the window."""

from __future__ import annotations

import dataclasses

from exchange.feeds import ChangeNotifier, RecentChanges
from exchange.models import ChangeQuery
from exchange.repository.port import Repository
from tests.contract.test_repository import _with_jws, index, upsert, withdraw


async def fill(repository: Repository, n: int) -> None:
    """``n`` changes: laws and cases of two States, with new versions and a withdrawal among them."""
    decisions = []
    for i in range(n):
        state = "EST" if i % 3 else "LVA"
        kind = "case" if i % 4 == 0 else "law"
        decision = upsert(f"r{i % 7}", state, kind=kind, content={"n": i}, idx=index(state))
        decisions.append(_with_jws(decision, f'{{"jws": "{decision.submission.submission_id}"}}'.encode()))
    last = withdraw("r1")
    decisions.append(_with_jws(last, f'{{"jws": "{last.submission.submission_id}"}}'.encode()))
    await repository.decide(decisions)


QUERIES = [
    ChangeQuery(),
    ChangeQuery(since=5, limit=3),
    ChangeQuery(since=2, kinds=("case",)),
    ChangeQuery(participants=("LVA",), include_content=True),
    ChangeQuery(jurisdictions=("EST",), include_jws=True, limit=4),
    ChangeQuery(since=10, include_content=True, include_jws=True),
    ChangeQuery(since=40),
]


async def test_reads_from_the_window_equal_the_repository_query(repository: Repository) -> None:
    await fill(repository, 30)
    notifier = ChangeNotifier(repository)
    recent = RecentChanges(repository, notifier, size=1000)
    for query in QUERIES:
        found, head = await recent.read(query)
        assert found == await repository.list_changes(query), query
        assert head >= (found[-1].seq if found else query.since) or head == await repository.last_seq()

    await fill(repository, 5)  # committed elsewhere: the window learns it from the notifier's head
    notifier.poke(await repository.last_seq())
    found, head = await recent.read(ChangeQuery(since=31, include_content=True))
    assert head == 37 and [c.seq for c in found] == list(range(32, 38))
    assert found == await repository.list_changes(ChangeQuery(since=31, include_content=True))


async def test_a_reader_older_than_the_window_gets_the_repository_s_answer(repository: Repository) -> None:
    await fill(repository, 40)
    recent = RecentChanges(repository, ChangeNotifier(repository), size=8)
    newest, _ = await recent.read(ChangeQuery(since=38))  # fills the window with the newest changes
    assert [c.seq for c in newest] == [39, 40, 41]
    for query in (ChangeQuery(), ChangeQuery(since=3, kinds=("law",), include_jws=True)):
        assert (await recent.read(query))[0] == await repository.list_changes(query)
    limited = dataclasses.replace(QUERIES[0], since=35, limit=2)
    assert (await recent.read(limited))[0] == await repository.list_changes(limited)
