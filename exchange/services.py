"""The running service's parts, built once from the settings and shared by HTTP handlers and workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from exchange.backends import Backends
from exchange.directory import Directory
from exchange.envelope import SigningKey
from exchange.federation.node import Federation, open_federation, witness_signer
from exchange.feeds import ChangeNotifier, RecentChanges
from exchange.intake import Intake
from exchange.metrics import Metrics
from exchange.mirror.sync import Mirror
from exchange.processing import Processor
from exchange.queue.port import SubmissionQueue
from exchange.relay.hub import Relay, open_relay
from exchange.repository.port import Repository
from exchange.secretbox import SecretBox
from exchange.servicekeys import ack_key, log_signers
from exchange.settings import Settings
from exchange.transparency.service import TransparencyLog
from exchange.validation import Validator


@dataclass
class Services:
    settings: Settings
    backends: Backends
    validator: Validator
    directory: Directory
    signing_key: SigningKey
    intake: Intake
    processor: Processor
    log: TransparencyLog
    notifier: ChangeNotifier
    #: the newest changes, read once and shared by the event streams and webhook deliverers
    recent: RecentChanges
    federation: Federation
    #: Submissions for upstream repositories (None unless ``EXCHANGE_RELAY_UPSTREAMS`` names some).
    relay: Relay | None
    #: Seals webhook secrets before they are stored.
    secrets: SecretBox
    metrics: Metrics = field(default_factory=Metrics)
    #: The upstream this node mirrors, read-only (None unless ``EXCHANGE_MIRROR_OF`` names one).
    mirror: Mirror | None = None

    @property
    def repository(self) -> Repository:
        return self.backends.repository

    @property
    def queue(self) -> SubmissionQueue:
        return self.backends.queue


@asynccontextmanager
async def open_services(settings: Settings, backends: Backends | None = None) -> AsyncIterator[Services]:
    """Open the backends, build everything on them, close them on exit."""
    backends = backends or Backends.from_settings(settings)
    validator = Validator.from_package()
    await backends.open()
    try:
        async with open_federation(settings, backends) as federation, open_relay(settings) as relay:
            directory = Directory(backends.repository, settings.key_cache_seconds)
            signing_key = ack_key(settings)
            notifier = ChangeNotifier(backends.repository, settings.feed_poll_interval)
            handover = backends.handover()
            mirror = (
                Mirror(settings, backends.repository, validator, witness_signer(settings, "mirror"))
                if settings.mirror_of
                else None
            )
            try:
                yield Services(
                    settings=settings,
                    backends=backends,
                    validator=validator,
                    directory=directory,
                    signing_key=signing_key,
                    intake=Intake(
                        settings, backends.repository, backends.queue, directory, signing_key, handover, relay
                    ),
                    processor=Processor(
                        settings,
                        backends.repository,
                        backends.queue,
                        directory,
                        validator,
                        handover,
                        on_commit=notifier.poke,
                    ),
                    log=TransparencyLog(
                        backends.repository,
                        log_signers(settings),
                        cosignatures=federation.store.cosignatures,
                        signing=mirror is None,  # a mirror serves the upstream's checkpoints, cosigned
                    ),
                    notifier=notifier,
                    recent=RecentChanges(backends.repository, notifier),
                    federation=federation,
                    relay=relay,
                    secrets=SecretBox.from_settings(settings),
                    mirror=mirror,
                )
            finally:
                if mirror is not None:
                    await mirror.close()
    finally:
        await backends.close()
