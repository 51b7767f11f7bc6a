"""PostgreSQL repository behaviour beyond the shared contract: migrations, failures, ordering, the log tree."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from exchange import times
from exchange.errors import ExchangeError, Problems, Unavailable
from exchange.models import RecordKey, RecordQuery, TokenInfo
from exchange.repository.postgresql import PostgresRepository, migrate, redact
from exchange.repository.postgresql.schema import MIGRATIONS
from exchange.settings import Settings
from exchange.transparency.merkle import MemoryNodeStore
from tests.contract.test_repository import participant, public_key, rejected, submission, upsert
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


def test_redact_hides_passwords() -> None:
    assert redact("postgresql://u:p@h:5432/db?search_path=x") == "postgresql://u:***@h:5432/db?search_path=x"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert "sec" not in redact("postgresql://h/db?password=sec&sslmode=require")
