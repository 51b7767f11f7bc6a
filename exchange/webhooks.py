"""Webhook deliveries: Standard Webhooks signatures over CloudEvents 1.0 bodies, in order, at least once.

Each subscription is followed by one task that holds a lease on it (so several ``deliver`` workers
can run), sends the next matching change after its durable cursor, and advances the cursor only
after a 2xx answer. Failures back off exponentially (honouring ``Retry-After``); a 410 ends the
subscription; a subscription failing longer than the failure window is paused with its cursor kept.
One subscription's failures never hold up another's: each has its own task and its own timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
import socket
import time
import uuid
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from exchange import ijson, times
from exchange.addresses import is_forbidden
from exchange.errors import ErrorItem, ExchangeError, Problems, Unavailable
from exchange.feeds import ChangeNotifier, RecentChanges
from exchange.metrics import Metrics
from exchange.models import Change, ChangeQuery, DeliveryAttempt, Subscription
from exchange.repository.port import Feeds, Subscriptions
from exchange.secretbox import SecretBox
from exchange.settings import Settings
from exchange.transport import ResponseTooLarge, parse_retry_after, read_bounded
from exchange.visibility import Viewer

log = logging.getLogger("exchange.deliver")
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
EVENT_TYPE = "int.exchange.record.changed"
#: Bytes beyond the challenge a verification answer may hold (a newline, say); more is a failure.
VERIFY_MARGIN = 64
#: The most of a receiver's answer to a delivery that is read (it is only drained, never used).
MAX_DELIVERY_ANSWER = 4096


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body`` (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signatures(sub: Subscription, box: SecretBox, webhook_id: str, timestamp: int, body: bytes, now: datetime) -> str:
    """The current secret's signature, and the previous one's while a rotation overlaps."""
    values = [signature(box.open(sub.secret, sub.id), webhook_id, timestamp, body)]
    if sub.previous_secret and sub.previous_secret_until and times.parse(sub.previous_secret_until) > now:
        values.append(signature(box.open(sub.previous_secret, sub.id), webhook_id, timestamp, body))
    return " ".join(values)


def subscriber(sub: Subscription) -> Viewer:
    """Who a subscription delivers to: a token holder (versions visible to participants), and the named
    reader of restricted ones when its owner is a participant. A subscription never sees everything."""
    return Viewer(authenticated=True, participant=None if sub.owner == "admin" else sub.owner)


def webhook_id(sub: Subscription, seq: int) -> str:
    """Stable across retries of the same change, so receivers can deduplicate."""
    return f"msg_{sub.id}_{seq}"


def cloud_event(change: Change, source: str, event_id: str) -> bytes:
    return ijson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": EVENT_TYPE,
            "subject": str(change.key),
            "time": change.received_at,
            "datacontenttype": "application/json",
            "sequence": str(change.seq),
            "data": change.as_dict(),
        }
    )


class WebhookStore(Feeds, Subscriptions, Protocol):
    """What the delivery worker reads and writes: the change feed, and the subscriptions it serves."""


class PublicOnlyResolver(AbstractResolver):
    """Resolves names but refuses loopback, private, link-local and reserved addresses (no SSRF)."""

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        public = [r for r in results if not is_forbidden(r["host"])]
        if not public:
            raise OSError(f"{host} resolves only to private or loopback addresses; deliveries there are refused")
        return public

    async def close(self) -> None:
        await self._resolver.close()


#: The characters of an RFC 3986 URI: anything else must be %-encoded (or, in a host name, IDNA-encoded).
URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s) or names a private address literally."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:  # an unclosed IPv6 bracket, a port that is not a number
        raise ExchangeError(
            Problems.INVALID_REQUEST, f"the URL is malformed: {exc}", errors=[ErrorItem("/url", "url", str(exc))]
        ) from None
    problem = None
    if not URI_CHARACTERS.fullmatch(url):
        problem = "the URL must be written in URI characters (RFC 3986): a host name in its xn-- form, others %-encoded"
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "the URL must be an absolute http or https URL"
    elif parts.username or parts.password:
        problem = "the URL must not carry credentials"
    elif not allow_private:
        host = parts.hostname
        try:
            if is_forbidden(host):
                problem = "deliveries to loopback or private addresses are refused"
        except ValueError:
            if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
                problem = "deliveries to local host names are refused"
    if problem:
        raise ExchangeError(Problems.INVALID_REQUEST, problem, errors=[ErrorItem("/url", "url", problem)])


def session_for(settings: Settings) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=None if settings.webhooks_allow_private else PublicOnlyResolver(), limit=100, limit_per_host=4
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout),
        headers={"User-Agent": "exchange-webhooks/1"},
    )


async def verify_intent(session: aiohttp.ClientSession, url: str) -> str | None:
    """WebSub verification of intent: GET url?challenge=X must answer 200 with exactly X. None when it did."""
    challenge = secrets.token_urlsafe(24)
    target = url + ("&" if urlsplit(url).query else "?") + urlencode({"challenge": challenge})
    try:
        async with session.get(target, allow_redirects=False) as response:
            body = await read_bounded(response, len(challenge) + VERIFY_MARGIN)
            if response.status != 200 or body != challenge.encode():
                return f"the verification request answered {response.status} without echoing the challenge"
    except ResponseTooLarge:
        return "the verification request answered more than the challenge"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return f"the verification request failed: {exc or type(exc).__name__}"
    return None


class Deliverer:
    """Follows every claimable subscription, each in its own task."""

    def __init__(
        self,
        settings: Settings,
        repository: WebhookStore,
        notifier: ChangeNotifier,
        metrics: Metrics | None = None,
        recent: RecentChanges | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.repository = repository
        self.notifier = notifier
        self.recent = recent or RecentChanges(repository, notifier)
        self.secrets = SecretBox.from_settings(settings)
        self.worker_id = f"deliver-{uuid.uuid4().hex[:12]}"
        self.lease = 30.0
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        async with session_for(self.settings) as session:
            try:
                while not stop.is_set():
                    now = times.now()
                    try:
                        claimed = await self.repository.claim_subscriptions(
                            self.worker_id, times.iso(now + timedelta(seconds=self.lease)), times.iso(now), 1000
                        )
                    except Unavailable as exc:
                        log.warning("cannot claim subscriptions", extra={"reason": str(exc)})
                        claimed = []
                    for sub in claimed:
                        task = self._tasks.get(sub.id)
                        if task is None or task.done():
                            self._tasks[sub.id] = asyncio.create_task(self._follow(sub.id, session, stop))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=min(1.0, self.lease / 3))
            finally:
                await self._drain()

    async def _drain(self) -> None:
        """Let each delivery in flight finish (within the receiver's timeout), then free the leases.

        Cancelling one would drop an answer the receiver may already have given: the change would be
        sent again after the restart, and the cursor would lag behind what was acknowledged. Freed
        leases let another deliverer carry on at once instead of when they expire.
        """
        running = [task for task in self._tasks.values() if not task.done()]
        if running:
            log.info("stopping: finishing the deliveries in flight", extra={"deliveries": len(running)})
            _, late = await asyncio.wait(running, timeout=self.settings.webhook_timeout + 1.0)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for subscription_id in self._tasks:
            with contextlib.suppress(Unavailable):
                await self.repository.update_subscription(
                    subscription_id, {"lease_owner": None, "lease_until": None}, {"lease_owner": self.worker_id}
                )

    async def _follow(self, subscription_id: str, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Deliver one subscription's changes in order. While deliveries succeed one after another, the
        subscription is kept in memory as this deliverer last wrote it (every write is a compare-and-set
        that fails if anyone else changed it meanwhile); it is read again after a wait or a failed write."""
        sub: Subscription | None = None
        while not stop.is_set():
            if sub is None:
                sub = await self.repository.get_subscription(subscription_id)
            if sub is None or sub.status not in ("pending", "active") or sub.lease_owner != self.worker_id:
                return
            now = times.now()
            if sub.next_attempt_at and times.parse(sub.next_attempt_at) > now:
                wait = (times.parse(sub.next_attempt_at) - now).total_seconds()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(wait, 1.0))
                sub = None
                continue
            if sub.status == "pending":
                await self._verify(sub, session)
                sub = None
                continue
            changes, head = await self.recent.read(
                ChangeQuery(sub.cursor, 1, sub.kinds, sub.participants, sub.jurisdictions)
            )
            if not changes:
                await self.notifier.wait_beyond(max(head, sub.cursor), 1.0)
                sub = None
                continue
            if not subscriber(sub).may_see(changes[0].visibility, changes[0].readers):
                sub = await self._skip(sub, changes[0])
                continue
            sub = await self._deliver(sub, changes[0], session)

    async def _skip(self, sub: Subscription, change: Change) -> Subscription | None:
        """Pass over a change the subscriber may not see: no event, nothing in its delivery log."""
        expect = {"cursor": sub.cursor, "status": sub.status, "lease_owner": self.worker_id}
        if not await self.repository.update_subscription(sub.id, {"cursor": change.seq}, expect):
            return None
        return dataclasses.replace(sub, cursor=change.seq)

    async def _verify(self, sub: Subscription, session: aiohttp.ClientSession) -> None:
        problem = await verify_intent(session, sub.url)
        if problem is None:
            fields: dict[str, object] = {"status": "active", "attempts": 0, "next_attempt_at": None, "last_error": None}
        else:
            fields = self._failed(sub, problem, None)
        await self.repository.update_subscription(sub.id, fields, {"status": "pending", "url": sub.url})

    async def _deliver(self, sub: Subscription, change: Change, session: aiohttp.ClientSession) -> Subscription | None:
        """Deliver one change; the subscription as written after it, or None when someone else changed it."""
        event_id = webhook_id(sub, change.seq)
        body = cloud_event(change, self.settings.public_origin, event_id)
        now = times.now()
        stamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            "webhook-id": event_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signatures(sub, self.secrets, event_id, stamp, body, now),
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            async with session.post(sub.url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                await read_bounded(response, MAX_DELIVERY_ANSWER)
        except ResponseTooLarge:
            error = f"the receiver answered more than {MAX_DELIVERY_ANSWER} bytes"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = str(exc) or type(exc).__name__
        latency = (time.perf_counter() - started) * 1000
        self.metrics.webhook_attempt(status)
        if error is None and status is not None and 200 <= status < 300:
            fields: dict[str, object] = {
                "cursor": change.seq, "attempts": 0, "failing_since": None, "next_attempt_at": None, "last_error": None,
            }  # fmt: skip
        elif error is None and status == 410:
            fields = {"status": "gone", "last_error": "the receiver answered 410 Gone"}
        else:
            fields = self._failed(sub, error or f"the receiver answered {status}", retry_after)
        # the attempt and the outcome in one transaction; the outcome as a compare-and-set: a replay, pause,
        # deletion or lost lease made meanwhile wins over it
        attempt = DeliveryAttempt(
            sub.id, change.seq, event_id, sub.attempts + 1, times.iso(now), status, latency, error
        )
        expect = {"cursor": sub.cursor, "status": "active", "lease_owner": self.worker_id}
        if not await self.repository.add_delivery(attempt, fields, expect):
            return None
        return dataclasses.replace(sub, **fields)  # type: ignore[arg-type]

    def _failed(self, sub: Subscription, reason: str, retry_after: float | None) -> dict[str, object]:
        """The fields of a failed attempt: back-off, and a pause once failing outlasts the window."""
        now = times.now()
        attempts = sub.attempts + 1
        failing_since = sub.failing_since or times.iso(now)
        delay = min(self.settings.webhook_retry_base * 2 ** (attempts - 1), self.settings.webhook_max_backoff)
        if retry_after is not None:
            delay = min(max(delay, retry_after), self.settings.webhook_max_backoff)
        fields: dict[str, object] = {
            "attempts": attempts,
            "failing_since": failing_since,
            "last_error": reason,
            "next_attempt_at": times.iso(now + timedelta(seconds=delay)),
        }
        if (now - times.parse(failing_since)).total_seconds() > self.settings.webhook_failure_window:
            fields["status"] = "paused"
        log.info("webhook delivery failed", extra={"subscription": sub.id, "attempts": attempts, "reason": reason})
        return fields
