"""Operational metrics in the Prometheus text format (``GET /metrics``).

Each process keeps its own registry (never the library's global one), so two apps in one process,
as in the tests, count apart. Counters are kept where the work happens: HTTP requests in the gateway,
decisions in the validation worker, webhook attempts in the deliverer, each in the process that does
it (a scale-out worker without an HTTP port counts too; its figures are read from its logs or by
running it inside ``exchange serve``). Gauges that describe the shared state (queue depth, log size,
feed head, webhook backlog) are read from the backends when scraped, so every gateway reports them.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from exchange.models import SubmissionState

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "exchange_http_requests",
            "HTTP requests answered, by route, method and status.",
            ("route", "method", "status"),
            registry=r,
        )
        self.latency = Histogram(
            "exchange_http_request_duration_seconds",
            "Time to answer HTTP requests, by route and method.",
            ("route", "method"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "exchange_decisions",
            "Submissions decided by this process's validation worker, by outcome.",
            ("outcome",),
            registry=r,
        )
        self.webhook_attempts = Counter(
            "exchange_webhook_attempts",
            "Webhook delivery attempts by this process, by result.",
            ("result",),
            registry=r,
        )
        self.queue_depth = Gauge("exchange_queue_depth", "Submissions waiting in the queue.", registry=r)
        self.log_size = Gauge("exchange_log_size", "Entries in the transparency log.", registry=r)
        self.feed_head = Gauge("exchange_feed_last_seq", "The change feed's last seq.", registry=r)
        self.webhook_backlog = Gauge(
            "exchange_webhook_backlog",
            "Changes not yet delivered to the furthest-behind active subscription.",
            registry=r,
        )
        self.webhook_failing = Gauge(
            "exchange_webhook_failing_subscriptions",
            "Subscriptions whose last delivery failed or that are paused.",
            registry=r,
        )
        self.relay_entries = Gauge(
            "exchange_relay_entries",
            "Submissions in this node's relay outbox, by state (relaying, forwarded, refused).",
            ("state",),
            registry=r,
        )
        self.mirror_behind = Gauge(
            "exchange_mirror_behind_entries",
            "Log entries of the upstream's newest checkpoint this mirror does not hold yet.",
            registry=r,
        )
        self.mirror_stopped = Gauge(
            "exchange_mirror_stopped", "1 when this mirror stopped following its upstream (a check failed).", registry=r
        )
        self.up = Gauge(
            "exchange_backends_up", "1 when the database and queue answered this scrape, else 0.", registry=r
        )

    def decided(self, states: Sequence[SubmissionState]) -> None:
        for state in states:
            self.decisions.labels(state.status).inc()

    def webhook_attempt(self, status: int | None) -> None:
        if status is None:
            result = "error"
        elif 200 <= status < 300:
            result = "delivered"
        else:
            result = f"{status // 100}xx"
        self.webhook_attempts.labels(result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
