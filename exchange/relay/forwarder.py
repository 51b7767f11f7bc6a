"""Forwarding: the background task of ``exchange serve`` that sends the relay outbox upstream.

One loop per upstream, so an upstream that is down never delays the others. Each round leases the next
entries (the oldest waiting entry of each record, :meth:`RelayOutbox.lease`), ``POST``s each one's
stored bytes, unchanged and with the media type they came with, to ``<upstream>/v1/submissions``, and
records the answer:

* ``202``: ``forwarded``, with the upstream's body (its signed acknowledgment) and ``Location``;
* a status the intake gives a submission it will not take (``400``, ``401``, ``403``, ``409``, ``413``,
  ``415``, ``422``): ``refused``, with the upstream's problem; sending the same bytes again would get
  the same answer, and the hub cannot sign new ones;
* anything else (``408``, ``429``, ``5xx``, a redirect or a ``404`` from a misconfigured URL), no answer,
  or an answer too long to read: still ``relaying``; the upstream is tried again after a back-off that
  doubles up to ``EXCHANGE_RELAY_MAX_BACKOFF`` (a ``Retry-After`` is honoured within it), so an
  operator's mistake in ``EXCHANGE_RELAY_UPSTREAMS`` never turns into refusals.

The single endpoint is used, not ``:batch``: a flattened JWS may span several lines, and the exact bytes
are what is forwarded. A re-send after a lost answer, a crash or a lease that ran out is harmless: the
upstream answers an identical JWS with its first outcome and applies it once.
"""

from __future__ import annotations

import asyncio
import logging

from exchange.federation.collector import next_backoff, wait
from exchange.relay.hub import Relay, Upstream
from exchange.relay.outbox import RelayEntry
from exchange.services import Services
from exchange.transport import RetryPolicy, Transport, TransportError, parse_retry_after

log = logging.getLogger("exchange.relay")

#: Most entries sent to one upstream at once.
CONCURRENCY = 16
#: Most bytes read of an upstream's answer to a submission.
MAX_ANSWER_BYTES = 256 * 1024
#: Seconds between two looks at the outbox when nothing wakes the forwarder (entries stored by
#: another process, leases that ran out).
POLL_SECONDS = 1.0
#: The statuses of the upstream's intake that refuse a submission for what it is: the same bytes would
#: be refused again. Any other answer is taken as transient.
REFUSALS = frozenset({400, 401, 403, 409, 413, 415, 422})


class Forwarder:
    """Sends one upstream its entries."""

    def __init__(self, relay: Relay, upstream: Upstream) -> None:
        self.relay = relay
        self.upstream = upstream
        timeout = relay.settings.relay_timeout
        self.lease_seconds = timeout * 2 + 10
        self.transport = Transport(
            upstream.url,
            retry=RetryPolicy(attempts=1),  # the forwarder's own back-off retries
            read_timeout=timeout,
            total_timeout=timeout,
            max_body=MAX_ANSWER_BYTES,
        )

    async def round(self) -> tuple[int, float | None]:
        """Send what can be sent now; return how many were sent and, if the upstream failed, the wait
        it asked for (0 when it gave none), else None."""
        entries = await self.relay.outbox.lease(self.upstream.origin, CONCURRENCY, self.lease_seconds)
        if not entries:
            return 0, None
        waits = await asyncio.gather(*(self.send(entry) for entry in entries))
        failed = [w for w in waits if w is not None]
        return len(entries), (max(failed) if failed else None)

    async def send(self, entry: RelayEntry) -> float | None:
        """Send one entry and record the answer; the upstream's wait hint after a transient failure."""
        outbox = self.relay.outbox
        try:
            answer = await self.transport.request(
                "POST", "/v1/submissions", data=entry.body, content_type=entry.media_type, retry=False
            )
        except TransportError as exc:
            await outbox.settle(entry, "relaying", None, None, {"detail": str(exc)})
            return 0.0
        if answer.status == 202:
            await outbox.settle(entry, "forwarded", 202, answer.headers.get("Location"), answer.body)
            log.info("forwarded", extra={"upstream": self.upstream.origin, "submission_id": entry.submission_id})
            return None
        if answer.status in REFUSALS:
            await outbox.settle(entry, "refused", answer.status, None, answer.body)
            log.warning(
                "the upstream refused a relayed submission",
                extra={"upstream": self.upstream.origin, "submission_id": entry.submission_id, "status": answer.status},
            )
            return None
        await outbox.settle(entry, "relaying", answer.status, None, answer.body)
        return parse_retry_after(answer.headers.get("Retry-After")) or 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Forward until ``stop`` is set."""
        longest = self.relay.settings.relay_max_backoff
        backoff = 0.0
        try:
            while not stop.is_set():
                try:
                    sent, failed = await self.round()
                except Exception:  # a bug or a busy outbox must not end the task: nothing would be relayed
                    log.exception("unexpected failure while relaying", extra={"upstream": self.upstream.origin})
                    sent, failed = 0, 0.0
                if failed is not None:
                    backoff = next_backoff(backoff, longest)
                    log.warning("the upstream is not taking submissions now", extra={"upstream": self.upstream.origin})
                    await wait(stop, min(longest, max(backoff, failed)))
                    continue
                backoff = 0.0
                if not sent:
                    self.relay.work.clear()
                    await _woken(self.relay.work, stop, POLL_SECONDS)
        finally:
            await self.transport.close()


async def _woken(work: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Wait until new work is stored, ``stop`` is set or ``seconds`` pass."""
    waiters = [asyncio.ensure_future(work.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run(services: Services, stop: asyncio.Event) -> None:
    """Forward the relay outbox to every upstream (nothing to do without ``EXCHANGE_RELAY_UPSTREAMS``)."""
    relay = services.relay
    if relay is None:
        return
    await asyncio.gather(*(Forwarder(relay, upstream).run(stop) for upstream in relay.upstreams.values()))
