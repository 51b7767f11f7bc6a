"""A process's cached view of the registry: keys and participants, refreshed every few seconds.

The gateway and workers look keys up on every submission; reading them from the database each time
would put the registry on the hot path. Entries are kept for ``key_cache_seconds``; a miss is read
through at once, so a key registered a moment ago is usable immediately, and a revocation takes
effect everywhere within the cache time.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

from exchange.keys import PublicKey
from exchange.models import STATE_TYPES, Participant
from exchange.repository.port import Repository
from exchange.validation import ParticipantScope

T = TypeVar("T")


class _Cache(Generic[T]):
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, T | None]] = {}

    def get(self, key: str) -> tuple[bool, T | None]:
        hit = self._items.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return False, None
        return True, hit[1]

    def put(self, key: str, value: T | None) -> None:
        if len(self._items) > 100_000:
            self._items.clear()
        self._items[key] = (time.monotonic(), value)


def scope_of(participant: Participant) -> ParticipantScope:
    jurisdictions = set(participant.jurisdictions)
    if participant.type in STATE_TYPES:
        jurisdictions.add(participant.id)
    return ParticipantScope(participant.id, participant.type, frozenset(jurisdictions))


class Directory:
    def __init__(self, repository: Repository, ttl: float) -> None:
        self._repository = repository
        self._keys: _Cache[PublicKey] = _Cache(ttl)
        self._scopes: _Cache[ParticipantScope] = _Cache(ttl)

    async def key(self, kid: str) -> PublicKey | None:
        hit, key = self._keys.get(kid)
        if not hit:
            key = await self._repository.get_key(kid)
            self._keys.put(kid, key)
        return key

    async def scope(self, participant_id: str) -> ParticipantScope | None:
        hit, scope = self._scopes.get(participant_id)
        if not hit:
            participant = await self._repository.get_participant(participant_id)
            scope = scope_of(participant) if participant else None
            self._scopes.put(participant_id, scope)
        return scope
