"""While its backend is down, every port method raises ``Unavailable``, on every adapter.

The methods are enumerated from the port's protocols, so a method added to a port is covered at once:
this suite fails, naming it, until it has arguments here. An outage is, per adapter: the embedded
database closed under the adapter (SQLite); the server gone, through a proxy that drops every
connection and refuses new ones (PostgreSQL, RabbitMQ). Opening and closing are left out: they are how
an outage starts and ends, not calls made during one.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from exchange import times
from exchange.backends import open_queue, open_repository
from exchange.errors import Unavailable
from exchange.models import (
    AuditQuery,
    ChangeQuery,
    DeliveryAttempt,
    RecordKey,
    RecordQuery,
    Reindexed,
    StoredCheckpoint,
    TokenInfo,
)
from exchange.queue.port import Delivery, SubmissionQueue
from exchange.repository.port import PARTS, Repository
from exchange.settings import Settings
from exchange.sqlitedb import SqliteDatabase
from tests.contract.test_repository import index, participant, public_key, rejected, submission, subscription, upsert
from tests.scaleout.proxy import TcpProxy

_LEFT_OUT = {"open", "close"}
_KEY = RecordKey("EST", "law", "penal-code")


def _methods(*protocols: type) -> list[str]:
    names = {
        name
        for protocol in protocols
        for name, member in vars(protocol).items()
        if inspect.iscoroutinefunction(member) and name not in _LEFT_OUT
    }
    return sorted(names)


REPOSITORY_METHODS = _methods(*PARTS)
QUEUE_METHODS = _methods(SubmissionQueue)

#: Arguments that make each method reach the database (no empty batch or size 0 answered in memory).
REPOSITORY_CALLS: dict[str, Callable[[], tuple[Any, ...]]] = {
    "ping": lambda: (),
    "add_participant": lambda: (participant("FIN"),),
    "get_participant": lambda: ("EST",),
    "list_participants": lambda: (),
    "add_key": lambda: (public_key("EST/2026-09"),),
    "revoke_key": lambda: ("EST/2026-01", "compromised", times.iso(times.now())),
    "get_key": lambda: ("EST/2026-01",),
    "list_keys": lambda: (),
    "add_token": lambda: ("ab" * 32, TokenInfo("tok_9", "EST", "participant", None, times.iso(times.now()))),
    "find_token": lambda: ("ab" * 32,),
    "list_tokens": lambda: (),
    "revoke_token": lambda: ("tok_9", times.iso(times.now())),
    "receive": lambda: ([submission()],),
    "decide": lambda: ([upsert(), rejected()],),
    "get_submission": lambda: ("EST", "00000000-0000-4000-8000-000000000000"),
    "get_submissions": lambda: ([("EST", "00000000-0000-4000-8000-000000000000")],),
    "get_submission_body": lambda: ("EST", "00000000-0000-4000-8000-000000000000"),
    "log_size": lambda: (),
    "log_entries": lambda: (0, 10),
    "log_root": lambda: (3,),
    "log_nodes": lambda: ([(0, 0), (1, 0)],),
    "add_checkpoint": lambda: (StoredCheckpoint(1, b"r" * 32, "note\n", times.iso(times.now())),),
    "latest_checkpoint": lambda: (),
    "list_checkpoints": lambda: (),
    "last_seq": lambda: (),
    "list_changes": lambda: (ChangeQuery(include_content=True, include_jws=True),),
    "add_subscription": lambda: (subscription("s9"),),
    "get_subscription": lambda: ("s9",),
    "list_subscriptions": lambda: (),
    "update_subscription": lambda: ("s9", {"status": "paused"}, {"status": "active"}),
    "delete_subscription": lambda: ("s9",),
    "claim_subscriptions": lambda: ("worker", "2026-01-01T00:01:00Z", "2026-01-01T00:00:00Z", 10),
    "add_delivery": lambda: (DeliveryAttempt("s9", 1, "msg_1", 1, "2026-01-01T00:00:00Z", 204, 1.0),),
    "list_deliveries": lambda: ("s9",),
    "audit_submissions": lambda: (AuditQuery(),),
    "all_versions": lambda: (),
    "current_version": lambda: (_KEY,),
    "get_record": lambda: (_KEY,),
    "identifier_holders": lambda: (["eli http://example.org/eli/1"],),
    "reindex": lambda: ([Reindexed(_KEY, 1, index(), None)],),
    "list_records": lambda: (RecordQuery(q="computer", tag="off.cia.illegal_access"),),
    "count_records": lambda: (RecordQuery(q="computer", tag="off.cia.illegal_access"),),
    "list_versions": lambda: (_KEY,),
    "get_version": lambda: (_KEY, 1),
}


#: Arguments of each queue method, given a delivery taken before the outage.
QUEUE_CALLS: dict[str, Callable[[Delivery], tuple[Any, ...]]] = {
    "ping": lambda d: (),
    "publish": lambda d: ([submission()],),
    "fetch": lambda d: (10, 0.05),
    "ack": lambda d: ([d],),
    "retry": lambda d: (d, "database down", 1.0),
    "dead_letter": lambda d: (d, "unreadable"),
    "depth": lambda d: (),
    "list_dead_letters": lambda d: (),
    "redrive": lambda d: ("0" * 32,),
    "drop": lambda d: ("0" * 32,),
}

#: The queue port makes one exception itself: an ack that can no longer be made is a no-op (the message
#: is delivered again). The embedded queue still says when its database is down.
_QUEUE_NO_OP_WHEN_DOWN = {"rabbitmq": {"ack"}}


def test_every_port_method_has_arguments_here() -> None:
    assert sorted(REPOSITORY_CALLS) == REPOSITORY_METHODS
    assert sorted(QUEUE_CALLS) == QUEUE_METHODS


def _local() -> Callable[[Path], SqliteDatabase]:
    databases: dict[Path, SqliteDatabase] = {}
    return lambda p: databases.setdefault(p, SqliteDatabase(p))


@pytest.fixture
async def down_repository(repository_backend: str, contract_settings: Settings) -> AsyncIterator[Repository]:
    """An adapter that was open and working, whose database then went away."""
    if repository_backend == "sqlite":
        repo = open_repository(contract_settings, _local())
        await repo.open()
        await repo.add_participant(participant("EST"))
        await repo.close()
        yield repo
        return
    assert contract_settings.database_url is not None
    with TcpProxy.before(contract_settings.database_url) as proxy:
        settings = contract_settings.model_copy(update={"database_url": proxy.url(contract_settings.database_url)})
        repo = open_repository(settings, _local())
        await repo.open()
        try:
            await repo.add_participant(participant("EST"))
            proxy.cut()
            yield repo
        finally:
            await repo.close()


@pytest.fixture
async def down_queue(
    queue_backend: str, contract_settings: Settings
) -> AsyncIterator[tuple[SubmissionQueue, list[Delivery]]]:
    """A queue that was open and had delivered messages (one for each method that settles one), then went away."""
    if queue_backend == "sqlite":
        queue = open_queue(contract_settings, _local())
        await queue.open()
        await queue.publish([submission() for _ in range(3)])
        deliveries = await queue.fetch(3, 1.0)
        await queue.close()
        yield queue, deliveries
        return
    assert contract_settings.queue_url is not None
    with TcpProxy.before(contract_settings.queue_url) as proxy:
        settings = contract_settings.model_copy(update={"queue_url": proxy.url(contract_settings.queue_url)})
        queue = open_queue(settings, _local())
        await queue.open()
        try:
            await queue.publish([submission() for _ in range(3)])
            deliveries = await queue.fetch(3, 5.0)
            proxy.cut()
            yield queue, deliveries
        finally:
            await queue.close()


async def test_every_repository_method_is_unavailable_while_the_database_is_down(down_repository: Repository) -> None:
    answered: list[str] = []
    for name in REPOSITORY_METHODS:
        try:
            await getattr(down_repository, name)(*REPOSITORY_CALLS[name]())
        except Unavailable:
            continue
        answered.append(name)
    assert answered == [], f"these answered without their database: {answered}"


async def test_every_queue_method_is_unavailable_while_the_queue_is_down(
    queue_backend: str, down_queue: tuple[SubmissionQueue, list[Delivery]]
) -> None:
    queue, deliveries = down_queue
    assert len(deliveries) == 3
    settling = iter(deliveries)
    answered: list[str] = []
    for name in QUEUE_METHODS:
        delivery = next(settling) if name in ("ack", "retry", "dead_letter") else deliveries[0]
        try:
            await getattr(queue, name)(*QUEUE_CALLS[name](delivery))
        except Unavailable:
            continue
        answered.append(name)
    assert answered == sorted(_QUEUE_NO_OP_WHEN_DOWN.get(queue_backend, set()))
