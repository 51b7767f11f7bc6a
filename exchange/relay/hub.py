"""The hub's side of a relay: which submissions it relays, where, and what it answers about them.

A submission whose signed ``audience`` is a configured upstream (``EXCHANGE_RELAY_UPSTREAMS``) takes the
relay path of :class:`exchange.intake.Intake`: the same checks as any submission (size, media type,
envelope, I-JSON and depth, the key and signature, ``created_at``, the signed fields), except that the
key comes from the upstream's directory (:mod:`exchange.relay.keys`) and the audience expected is the
upstream's origin. What passes is stored in the relay outbox before the hub answers ``202`` with its own
status URL; the record-level checks (base version, identifiers, schema) are the upstream's to make.

A submission signed for an audience that is neither this node nor an upstream is refused at once
(``422``, pointer ``/audience``), naming the origins this node accepts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from exchange import ijson
from exchange.envelope import parse
from exchange.errors import ErrorItem, ExchangeError, Problems
from exchange.identifiers import MEDIA_TYPES, Serialization, record_key
from exchange.publickeys import b64url_decode
from exchange.relay.keys import UpstreamKeys
from exchange.relay.outbox import NewEntry, RelayEntry, RelayOutbox
from exchange.settings import Settings
from exchange.transport import Transport
from exchange.verification import Expected, VerifiedSubmission


@dataclass(frozen=True, slots=True)
class Upstream:
    """A repository this node relays to: the origin submissions are signed for, and its URL."""

    origin: str
    url: str


def upstreams_of(settings: Settings) -> list[Upstream]:
    """The upstreams of ``EXCHANGE_RELAY_UPSTREAMS`` (``<origin>=<URL>`` entries, checked by the settings)."""
    found = []
    for entry in settings.relay_upstreams:
        origin, _, url = entry.partition("=")
        found.append(Upstream(origin.strip().rstrip("/"), url.strip().rstrip("/")))
    return found


@dataclass(frozen=True, slots=True)
class Route:
    """Where one submission goes: the upstream, the keys its signature is checked with, what it must say."""

    upstream: Upstream
    keys: UpstreamKeys
    expected: Expected


class Relay:
    """The relay of one process: its upstreams, their keys, the outbox, and a wake-up for the forwarder."""

    def __init__(self, settings: Settings, outbox: RelayOutbox) -> None:
        self.settings = settings
        self.outbox = outbox
        self.origin = settings.public_origin
        self.upstreams = {u.origin: u for u in upstreams_of(settings)}
        if self.origin in self.upstreams:
            raise ValueError(f"EXCHANGE_RELAY_UPSTREAMS names this node's own origin {self.origin}")
        self._transports = {o: Transport(u.url, read_timeout=settings.relay_timeout) for o, u in self.upstreams.items()}
        self._routes = {
            origin: Route(
                upstream,
                UpstreamKeys(origin, self._transports[origin], outbox, settings.key_cache_seconds),
                Expected(audience=origin),
            )
            for origin, upstream in self.upstreams.items()
        }
        self.work = asyncio.Event()

    async def close(self) -> None:
        for transport in self._transports.values():
            await transport.close()

    def route(self, body: bytes, serialization: Serialization) -> Route | None:
        """The route of a submission signed for an upstream; None for one signed for this node (or one
        too malformed to tell: the intake's checks then say what is wrong with it).

        The audience is read from the payload *before* its signature is checked, only to choose the
        keys that check it; nothing else of an unverified payload is used.
        """
        audience = _audience(body, serialization, self.settings.max_json_depth)
        if audience is None or audience == self.origin:
            return None
        route = self._routes.get(audience)
        if route is None:
            accepted = ", ".join([self.origin, *self.upstreams])
            message = f"the payload is signed for audience {audience!r}, which this node neither is nor relays to"
            raise ExchangeError(
                Problems.INVALID_PAYLOAD,
                f"{message} (it accepts {accepted})",
                errors=[ErrorItem("/audience", "audience", message)],
            )
        return route

    async def keep(self, route: Route, verified: VerifiedSubmission, media_type: str, received_at: str) -> RelayEntry:
        """Store a verified submission for its upstream (durably), or find the one stored under its id."""
        entry = NewEntry(
            upstream=route.upstream.origin,
            participant=verified.participant,
            submission_id=verified.submission_id,
            record=_record_of(verified),
            jws_sha256=verified.jws_sha256,
            media_type=media_type,
            body=verified.body,
            signature_checked=verified.signature_checked,
            received_at=received_at,
        )
        stored = await self.outbox.add(entry)
        if stored.jws_sha256 != entry.jws_sha256:
            raise ExchangeError(
                Problems.SUBMISSION_CONFLICT,
                f"submission_id {entry.submission_id} was already used by {entry.participant} "
                "with other content; choose a new submission_id",
            )
        self.work.set()
        return stored

    def status(self, entry: RelayEntry) -> dict[str, Any]:
        """What the hub says about a relayed submission (its ``202`` body and its status document)."""
        location = f"/v1/submissions/{entry.participant}/{entry.submission_id}"
        upstream = self.upstreams.get(entry.upstream)
        body: dict[str, Any] = {
            "participant": entry.participant,
            "submission_id": entry.submission_id,
            "jws_sha256": entry.jws_sha256,
            "received_at": entry.received_at,
            "status": entry.state,
            "relay": {"upstream": entry.upstream, "attempts": entry.attempts},
            "links": {"status": location},
        }
        answer = entry.answer if isinstance(entry.answer, dict) else None
        if entry.http_status is not None:
            body["relay"]["upstream_status"] = entry.http_status
        if entry.state == "forwarded" and answer is not None:
            if "acknowledgment" in answer:
                body["acknowledgment"] = answer["acknowledgment"]
            body["relay"]["answer"] = answer
            if entry.location and upstream is not None:
                body["links"]["upstream_status"] = upstream.url + entry.location
        elif entry.state == "refused" and answer is not None:
            body["relay"]["problem"] = answer
        elif answer is not None:
            body["relay"]["last_failure"] = answer
        return body


def _audience(body: bytes, serialization: Serialization, max_depth: int) -> str | None:
    try:
        jws = parse(body, MEDIA_TYPES[serialization])
        payload = ijson.loads(b64url_decode(jws.payload_b64), max_depth=max_depth)
    except (ExchangeError, ValueError):  # an ijson.IJSONError is a ValueError
        return None
    audience = payload.get("audience") if isinstance(payload, dict) else None
    return audience if isinstance(audience, str) else None


def _record_of(verified: VerifiedSubmission) -> str:
    """The record a submission changes (its versions are relayed in order); the submission itself when
    it names none."""
    if verified.record_id is None:
        return f"{verified.participant}/submission/{verified.submission_id}"
    return record_key(verified.participant, verified.kind, verified.record_id)


@asynccontextmanager
async def open_relay(settings: Settings) -> AsyncIterator[Relay | None]:
    """The relay of this process, its outbox open; None when no upstream is configured."""
    if not settings.relay_upstreams:
        yield None
        return
    outbox = RelayOutbox.in_directory(settings.data_dir)
    relay = Relay(settings, outbox)
    await outbox.open()
    try:
        yield relay
    finally:
        await relay.close()
        await outbox.close()
