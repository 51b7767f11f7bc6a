"""A process's cached view of the registry: keys and participants, refreshed every few seconds.

The gateway and workers look keys up on every submission; reading them from the database each time
would put the registry on the hot path. Entries are kept for ``key_cache_seconds``; a miss is read
through at once, so a key registered a moment ago is usable immediately, and a revocation takes
effect everywhere within the cache time.

While the database cannot be reached, an expired entry is still served (a read that fails falls back
to the last one read): the gateway can then verify and queue submissions through an outage. That is
safe because the worker judges every submission again, with the key as the database holds it, before
anything is decided.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

from exchange.errors import Unavailable
from exchange.models import STATE_TYPES, Participant
from exchange.publickeys import PublicKey
from exchange.repository.port import Registry
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

    def stale(self, key: str) -> T | None:
        """The entry however old it is (for when it cannot be read again), or None."""
        hit = self._items.get(key)
        return None if hit is None else hit[1]

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
    def __init__(self, repository: Registry, ttl: float) -> None:
        self._repository = repository
        self._keys: _Cache[PublicKey] = _Cache(ttl)
        self._scopes: _Cache[ParticipantScope] = _Cache(ttl)

    async def key(self, kid: str) -> PublicKey | None:
        hit, key = self._keys.get(kid)
        if not hit:
            try:
                key = await self._repository.get_key(kid)
            except Unavailable:
                key = self._keys.stale(kid)
                if key is None:  # never seen, or absent when last read: say "try later", not "unknown"
                    raise
                self._keys.put(kid, key)  # and ask the database again only after another ttl
                return key
            self._keys.put(kid, key)
        return key

    async def scope(self, participant_id: str) -> ParticipantScope | None:
        hit, scope = self._scopes.get(participant_id)
        if not hit:
            try:
                participant = await self._repository.get_participant(participant_id)
            except Unavailable:
                scope = self._scopes.stale(participant_id)
                if scope is None:
                    raise
                self._scopes.put(participant_id, scope)
                return scope
            scope = scope_of(participant) if participant else None
            self._scopes.put(participant_id, scope)
        return scope
