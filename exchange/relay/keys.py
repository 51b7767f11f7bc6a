"""An upstream's key directory, as the hub verifies relayed submissions with it (verify, then use).

The hub is not the audience of a relayed submission, so its own key registry does not vouch for the
State's key: the upstream's does. Its directory (``GET /v1/keys``) is fetched at first need, again
when a submission names a kid it does not hold or the copy is older than ``EXCHANGE_KEY_CACHE_SECONDS``
(at most once per that time, and never more often than every second while the upstream is down), and
kept in the relay outbox file: a hub restarted while its upstream is down still verifies with the last
copy. Without any copy the hub answers ``503``: it never stores what it could not verify.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from exchange.errors import Unavailable
from exchange.publickeys import PublicKey, from_directory_entry
from exchange.relay.outbox import RelayOutbox
from exchange.transport import Transport, TransportError

log = logging.getLogger("exchange.relay")

#: Most bytes read of an upstream's key directory.
MAX_DIRECTORY_BYTES = 8 * 1024 * 1024
#: Least seconds between two fetches of a directory that failed.
_RETRY_FETCH = 1.0
#: Most seconds a fetch of a directory may take (submitters wait for it).
_FETCH_TIMEOUT = 5.0


def parse_directory(document: Any) -> dict[str, PublicKey]:
    """The usable keys of a key directory document (``{"keys": [...]}``), by kid; unusable ones are left out."""
    keys: dict[str, PublicKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        try:
            key = from_directory_entry(entry)
        except ValueError as exc:
            log.warning("an upstream key directory entry is not a usable key", extra={"reason": str(exc)})
            continue
        keys[key.kid] = key
    return keys


class UpstreamKeys:
    """The keys of one upstream, by kid."""

    def __init__(self, origin: str, transport: Transport, outbox: RelayOutbox, ttl: float) -> None:
        self.origin = origin
        self._transport = transport
        self._outbox = outbox
        self._ttl = ttl
        self._keys: dict[str, PublicKey] | None = None
        self._fetched = -math.inf
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PublicKey | None:
        """The upstream's key ``kid``; None if its directory does not list it; :class:`Unavailable`
        when no copy of the directory can be had."""
        if self._keys is None or kid not in self._keys or self._age() >= self._ttl:
            async with self._lock:
                if self._keys is None:
                    kept = await self._outbox.key_directory(self.origin)
                    if kept is not None:
                        self._keys = parse_directory(kept)
                if self._keys is None or kid not in self._keys or self._age() >= self._ttl:
                    await self._refresh()
        if self._keys is None:
            raise Unavailable(
                f"the key directory of {self.origin} cannot be read now, so its signature cannot be checked"
            )
        return self._keys.get(kid)

    def _age(self) -> float:
        return time.monotonic() - self._fetched

    async def _refresh(self) -> None:
        if self._age() < min(self._ttl, _RETRY_FETCH):
            return
        self._fetched = time.monotonic()
        try:
            document = await self._transport.get_json(
                "/v1/keys", retry=False, max_body=MAX_DIRECTORY_BYTES, timeout=_FETCH_TIMEOUT
            )
        except TransportError as exc:
            log.warning("cannot read an upstream key directory", extra={"upstream": self.origin, "reason": str(exc)})
            return
        self._keys = parse_directory(document)
        await self._outbox.keep_key_directory(self.origin, document)
