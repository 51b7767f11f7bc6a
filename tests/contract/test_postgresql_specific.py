"""PostgreSQL repository behaviour beyond the shared contract: migrations, failures, ordering, the log tree."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from exchange import times
from exchange.errors import ExchangeError, Problems, Unavailable
from exchange.models import ChangeQuery, RecordKey, RecordQuery, StoredCheckpoint, Subscription, TokenInfo
from exchange.repository.postgresql import PostgresRepository, migrate, redact
from exchange.repository.postgresql_schema import MIGRATIONS
from exchange.settings import Settings
from exchange.transparency.merkle import MemoryNodeStore
from tests.contract.test_repository import index, participant, public_key, rejected, submission, upsert, withdraw
from tests.support import make_settings

pytestmark = pytest.mark.services


@pytest.fixture
def settings(tmp_path: Path, pg_url: str) -> Settings:
    return make_settings(tmp_path, database_url=pg_url, database_pool_size=4)


@pytest.fixture
async def repo(settings: Settings) -> AsyncIterator[PostgresRepository]:
    assert settings.database_url is not None
    repository = PostgresRepository(settings.database_url, settings)
    await repository.open()
    yield repository
    await repository.close()


def make(settings: Settings) -> PostgresRepository:
    assert settings.database_url is not None
    return PostgresRepository(settings.database_url, settings)


async def test_migrations_are_serialised_and_idempotent(settings: Settings, pg_url: str) -> None:
    starting = [make(settings) for _ in range(3)]
    await asyncio.gather(*(r.open() for r in starting))  # processes starting at once do not race
    await asyncio.gather(*(r.close() for r in starting))
    again = make(settings)
    await again.open()
    await again.add_participant(participant("EST"))
    await again.close()
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT component, version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [(r["component"], r["version"]) for r in rows] == [("repository", v + 1) for v in range(len(MIGRATIONS))]


async def test_an_older_schema_is_upgraded(settings: Settings, pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:  # the database as the first release left it
        async with conn.transaction():
            await migrate(conn, MIGRATIONS[:1])
    finally:
        await conn.close()
    upgraded = make(settings)
    await upgraded.open()
    try:
        assert await upgraded.latest_checkpoint() is None
        assert await upgraded.list_subscriptions() == []
    finally:
        await upgraded.close()


async def test_checkpoints_and_nodes(repo: PostgresRepository) -> None:
    await repo.decide([upsert(f"r{i}") for i in range(5)])
    root = await repo.log_root(5)
    first = StoredCheckpoint(5, root, "note 5\n", times.iso(times.now()))
    await repo.add_checkpoint(first)
    await repo.add_checkpoint(StoredCheckpoint(5, b"x" * 32, "other", times.iso(times.now())))  # kept as it was
    await repo.add_checkpoint(StoredCheckpoint(3, await repo.log_root(3), "note 3\n", times.iso(times.now())))
    assert await repo.latest_checkpoint() == first
    assert [c.size for c in await repo.list_checkpoints()] == [3, 5]
    assert [c.size for c in await repo.list_checkpoints(after=3)] == [5]
    assert [c.size for c in await repo.list_checkpoints(limit=1)] == [3]
    nodes = await repo.log_nodes([(2, 0), (0, 4), (0, 5), (3, 0)])
    assert set(nodes) == {(2, 0), (0, 4)}
    store = MemoryNodeStore()
    store.append([entry for _, entry in await repo.log_entries(0, 5)])
    assert nodes == store.get([(2, 0), (0, 4)])


async def test_a_newer_schema_is_refused(settings: Settings, pg_url: str) -> None:
    first = make(settings)
    await first.open()
    await first.close()
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("INSERT INTO schema_migrations (component, version) VALUES ('repository', 99)")
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        await make(settings).open()


async def test_unreachable_database_is_unavailable_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/test"
    repository = PostgresRepository(url, make_settings(tmp_path, database_url=url))
    with pytest.raises(Unavailable) as err:
        await repository.open()
    assert "s3cret-pw" not in err.value.detail
    assert "postgres:***@127.0.0.1:1" in err.value.detail
    assert err.value.headers["Retry-After"]
    with pytest.raises(Unavailable):
        await repository.ping()


async def test_closed_repository_is_unavailable(repo: PostgresRepository) -> None:
    await repo.close()
    with pytest.raises(Unavailable):
        await repo.get_participant("EST")
    await repo.open()
    await repo.ping()


async def test_dropped_connections_are_replaced(settings: Settings, pg_url: str) -> None:
    repository = make(settings.model_copy(update={"database_pool_size": 1}))
    await repository.open()
    try:
        async with repository._connection() as conn:  # the pool's only connection
            pid = conn.get_server_pid()
        admin = await asyncpg.connect(pg_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        for _ in range(3):  # a call that meets the dead connection must fail as Unavailable, nothing else
            try:
                await repository.ping()
                break
            except Unavailable:
                await asyncio.sleep(0.1)
        await repository.add_participant(participant("EST"))
        assert [p.id for p in await repository.list_participants()] == ["EST"]
    finally:
        await repository.close()


async def test_receive_batch_with_repeated_ids(repo: PostgresRepository) -> None:
    a, b = submission(), submission()
    first, again, other = await repo.receive([a, a, b])
    assert first is None
    assert other is None
    assert again is not None
    assert again.submission_id == a.submission_id
    [known] = await repo.receive([b])
    assert known is not None
    assert known.status == "received"


async def test_duplicate_token_is_already_exists(repo: PostgresRepository) -> None:
    info = TokenInfo("tok_1", None, "admin", None, times.iso(times.now()))
    await repo.add_token("h" * 64, info)
    with pytest.raises(ExchangeError) as err:
        await repo.add_token("h" * 64, info)
    assert err.value.problem == Problems.ALREADY_EXISTS


@pytest.mark.parametrize("text", ["!!!", "&", "a & b | !c", "'", "\\", "   "])
async def test_full_text_query_syntax_never_leaks(repo: PostgresRepository, text: str) -> None:
    await repo.decide([upsert()])
    assert await repo.list_records(RecordQuery(q=text)) == []


async def test_log_root_matches_an_independent_tree_at_every_size(repo: PostgresRepository) -> None:
    await repo.add_participant(participant("EST"))
    await repo.add_key(public_key("EST/2026-01"))
    for size in (1, 2, 3, 4, 5, 7, 8, 13, 1, 16):
        await repo.decide([upsert(f"r{size}-{i}") if i % 3 else rejected() for i in range(size)])
    total = await repo.log_size()
    assert total == 1 + sum((1, 2, 3, 4, 5, 7, 8, 13, 1, 16))
    store = MemoryNodeStore()
    store.append([entry for _, entry in await repo.log_entries(0, total)])
    for size in range(total + 1):
        assert await repo.log_root(size) == store.root(size), size


async def test_readers_never_see_a_gap_in_seq_or_log(settings: Settings, pg_url: str) -> None:
    """Concurrent writers on separate pools; a reader polling throughout sees only dense prefixes."""
    writers = [make(settings) for _ in range(2)]
    await asyncio.gather(*(w.open() for w in writers))
    await writers[0].add_participant(participant("EST"))
    reader = await asyncpg.connect(pg_url)
    done = asyncio.Event()
    checks = 0

    async def read() -> None:
        nonlocal checks
        while not done.is_set():
            seqs = [r[0] for r in await reader.fetch("SELECT seq FROM changes ORDER BY seq")]
            assert seqs == list(range(1, len(seqs) + 1))
            indexes = [r[0] for r in await reader.fetch("SELECT idx FROM log_entries ORDER BY idx")]
            assert indexes == list(range(len(indexes)))
            checks += 1
            await asyncio.sleep(0)

    async def write(n: int) -> None:
        repository = writers[n % 2]
        for batch in range(8):
            if batch == 4:
                await repository.add_key(public_key(f"EST/k{n}"))
            await repository.decide([upsert(f"w{n}-{i % 3}") for i in range(4)])

    polling = asyncio.create_task(read())
    try:
        await asyncio.gather(*(write(n) for n in range(6)))
    finally:
        done.set()
        await polling
        await reader.close()
        await asyncio.gather(*(w.close() for w in writers))
    assert checks > 0
    check = make(settings)
    await check.open()
    try:
        assert await check.log_size() == 6 * 8 * 4 + 6
        versions = await check.list_versions(RecordKey("EST", "law", "w0-0"))
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    finally:
        await check.close()


async def test_change_feed_jurisdictions_filters_and_includes(repo: PostgresRepository) -> None:
    ken = upsert("b", "KEN", idx=index("KEN"))
    ken = replace(ken, submission=replace(ken.submission, body=b'{"payload":"e30"}'))  # a JWS is ASCII
    await repo.decide([upsert("a", idx=index("EST")), withdraw("a"), ken])
    await repo.decide([upsert("a", idx=index("FIN")), withdraw("a")])  # a withdrawal keeps the last jurisdiction
    changes = await repo.list_changes(ChangeQuery())
    assert [(c.seq, c.key.record_id, c.action, c.jurisdiction) for c in changes] == [
        (1, "a", "upsert", "EST"),
        (2, "a", "withdraw", "EST"),
        (3, "b", "upsert", "KEN"),
        (4, "a", "upsert", "FIN"),
        (5, "a", "withdraw", "FIN"),
    ]
    assert await repo.last_seq() == 5
    assert [c.seq for c in await repo.list_changes(ChangeQuery(since=1, limit=2))] == [2, 3]
    assert [c.seq for c in await repo.list_changes(ChangeQuery(jurisdictions=("KEN", "FIN")))] == [3, 4, 5]
    assert [c.seq for c in await repo.list_changes(ChangeQuery(participants=("KEN",), kinds=("law",)))] == [3]
    [full] = await repo.list_changes(ChangeQuery(since=2, limit=1, include_content=True, include_jws=True))
    assert full.content == {"title": "b"}
    assert full.jws == '{"payload":"e30"}'
    [bare] = await repo.list_changes(ChangeQuery(since=2, limit=1))
    assert bare.content is None
    assert bare.jws is None


def subscription(sid: str, owner: str = "sub", created_at: str = "2026-01-01T00:00:00.000000Z") -> Subscription:
    return Subscription(sid, owner, "https://example.test/hook", ("law",), (), ("EST",), "whsec_x", "active", 0,
                        created_at)  # fmt: skip


async def test_subscriptions_compare_and_set_and_claims(repo: PostgresRepository, settings: Settings) -> None:
    for n in range(6):
        await repo.add_subscription(subscription(f"s{n}", created_at=f"2026-01-01T00:00:0{n}.000000Z"))
    with pytest.raises(ExchangeError):
        await repo.add_subscription(subscription("s0"))
    assert await repo.update_subscription("s0", {"cursor": 5}, {"status": "active"})
    assert not await repo.update_subscription("s0", {"cursor": 9}, {"status": "paused"})  # someone paused it
    assert await repo.update_subscription("s1", {"status": "paused", "jurisdictions": ("KEN",)})
    stored = await repo.get_subscription("s1")
    assert stored is not None
    assert stored.jurisdictions == ("KEN",)
    assert stored.status == "paused"
    got = await repo.get_subscription("s0")
    assert got is not None
    assert got.cursor == 5
    other = make(settings)
    await other.open()
    try:
        now, until = "2026-01-02T00:00:00.000000Z", "2026-01-02T00:01:00.000000Z"
        first, second = await asyncio.gather(
            repo.claim_subscriptions("w1", until, now, 3), other.claim_subscriptions("w2", until, now, 3)
        )
    finally:
        await other.close()
    ids = [s.id for s in first] + [s.id for s in second]
    assert sorted(ids) == ["s0", "s2", "s3", "s4", "s5"]  # s1 is paused; nobody got one twice
    assert all(s.lease_owner == "w1" for s in first)
    assert await repo.claim_subscriptions("w3", until, now, 10) == []  # leases still held
    assert len(await repo.claim_subscriptions("w3", until, "2026-01-03T00:00:00.000000Z", 10)) == 5
    assert await repo.delete_subscription("s5")
    assert not await repo.delete_subscription("s5")
    assert [s.id for s in await repo.list_subscriptions("sub")] == ["s0", "s1", "s2", "s3", "s4"]


def test_redact_hides_passwords() -> None:
    assert redact("postgresql://u:p@h:5432/db?search_path=x") == "postgresql://u:***@h:5432/db?search_path=x"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert "sec" not in redact("postgresql://h/db?password=sec&sslmode=require")
