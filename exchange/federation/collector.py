"""Collecting cosignatures: each new checkpoint of our log goes to every configured witness.

One task per witness, beside the HTTP server, so a witness that is slow or down never delays the
repository, nor the other witnesses: the repository signs, serves and accepts as always, and this
task retries that witness with growing back-off (up to ``EXCHANGE_WITNESS_MAX_BACKOFF``) until it
answers, then catches up with a consistency proof from the size the witness last cosigned.

The size a witness last cosigned is kept in the store. When it is not known (the first time, or after
the store was reset) the request says ``old 0``; the witness then answers 409 with its size
(``text/x.tlog.size``), which is kept and used at once. A cosignature is kept only after it verifies
with the witness key configured for it, so nothing a witness answers is served unchecked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re

import aiohttp

from exchange.errors import ExchangeError
from exchange.federation.node import WitnessEndpoint
from exchange.federation.store import FederationStore
from exchange.federation.witness import SIZE_MEDIA_TYPE
from exchange.models import StoredCheckpoint
from exchange.services import Services
from exchange.transparency.cosignature import verify_cosignatures
from exchange.transparency.note import NoteError
from exchange.transparency.service import TransparencyLog

log = logging.getLogger("exchange.cosign")

MAX_ANSWER_BYTES = 64 * 1024
"""Most bytes read from a witness's answer."""

MAX_ANSWER_LINES = 16
"""Most signature lines accepted in a witness's answer."""

_SIZE = re.compile(r"(0|[1-9][0-9]{0,19})\n")


class WitnessFailure(Exception):
    """A witness could not be reached or gave an answer we cannot use; the message says which."""


def request_body(old: int, proof: list[bytes], note: str) -> bytes:
    """The ``add-checkpoint`` body: ``old <size>``, the proof lines, an empty line, the checkpoint."""
    lines = [f"old {old}\n"] + [base64.b64encode(h).decode("ascii") + "\n" for h in proof]
    return ("".join(lines) + "\n" + note).encode("utf-8")


class WitnessClient:
    """Asks one witness to cosign our checkpoints and keeps what it gives."""

    def __init__(
        self,
        endpoint: WitnessEndpoint,
        log_: TransparencyLog,
        store: FederationStore,
        session: aiohttp.ClientSession,
    ) -> None:
        self.endpoint = endpoint
        self.log = log_
        self.store = store
        self.session = session

    @property
    def name(self) -> str:
        return self.endpoint.key.name

    async def cosign(self, checkpoint: StoredCheckpoint) -> bool:
        """Get and keep this witness's cosignature on ``checkpoint``; False when it has one already."""
        for _ in range(3):  # a 409 teaches the size; the next attempt uses it
            known = await self.store.cosigned_size(self.name)
            if known == checkpoint.size and await self._has(checkpoint.size):
                return False
            old = known or 0
            if old > checkpoint.size:
                raise WitnessFailure(f"witness {self.name} claims to have cosigned size {old}, beyond our log")
            proof = [] if old in (0, checkpoint.size) else await self.log.consistency(old, checkpoint.size)
            status, text = await self._post(request_body(old, proof, checkpoint.note))
            if status == 409 and (size := _SIZE.fullmatch(text)) is not None:
                learned = int(size.group(1))
                if learned == old:
                    raise WitnessFailure(f"witness {self.name} refused old size {old} and answered the same size")
                await self.store.set_cosigned_size(self.name, learned)
                continue
            if status != 200:
                shown = status or "409 (a conflicting checkpoint)"
                raise WitnessFailure(f"witness {self.name} answered {shown}: {text[:200]!r}")
            await self._keep(checkpoint, text)
            return True
        raise WitnessFailure(f"witness {self.name} keeps changing its size")

    async def _has(self, size: int) -> bool:
        return bool((await self.store.cosignatures([size])).get(size))

    async def _post(self, body: bytes) -> tuple[int, str]:
        try:
            async with self.session.post(
                self.endpoint.add_checkpoint_url, data=body, headers={"Content-Type": "text/plain; charset=utf-8"}
            ) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                if len(raw) > MAX_ANSWER_BYTES:
                    raise WitnessFailure(f"witness {self.name} answered more than {MAX_ANSWER_BYTES} bytes")
                media_type = response.content_type
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WitnessFailure(f"witness {self.name} is unreachable: {type(exc).__name__} {exc}") from None
        text = raw.decode("utf-8", errors="replace")
        if status == 409 and media_type != SIZE_MEDIA_TYPE:
            status = 0  # a conflict that is not the size answer: a split view, reported as a failure
        return status, text

    async def _keep(self, checkpoint: StoredCheckpoint, answer: str) -> None:
        if not answer.endswith("\n") or len(answer.splitlines()) > MAX_ANSWER_LINES:
            raise WitnessFailure(f"witness {self.name} did not answer 1 to {MAX_ANSWER_LINES} signature lines")
        try:
            verified, invalid = verify_cosignatures(checkpoint.note + answer, [self.endpoint.key])
        except NoteError as exc:
            raise WitnessFailure(f"witness {self.name} answered malformed signature lines: {exc}") from None
        if not verified:
            reason = invalid.get(self.name, "no line by its configured key")
            raise WitnessFailure(f"witness {self.name} gave no valid cosignature: {reason}")
        key_id = self.endpoint.key.key_id
        for line in answer.splitlines(keepends=True):
            fields = line.rstrip("\n").split(" ")
            if len(fields) == 3 and fields[1] == self.name and base64.b64decode(fields[2])[:4] == key_id:
                await self.store.add_cosignature(self.name, checkpoint.size, line)
                log.info("cosigned", extra={"witness": self.name, "size": checkpoint.size})
                return


async def wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def next_backoff(previous: float, longest: float) -> float:
    """1 second (or less when the longest is shorter), then doubling, up to ``longest``."""
    return min(longest, max(previous * 2, min(1.0, longest)))


async def follow_witness(client: WitnessClient, services: Services, stop: asyncio.Event) -> None:
    """Keep one witness up to date with our newest checkpoint until ``stop`` is set."""
    settings = services.settings
    backoff = 0.0
    while not stop.is_set():
        try:
            checkpoint = await services.repository.latest_checkpoint()
            if checkpoint is not None:
                await client.cosign(checkpoint)
            backoff = 0.0
            await wait(stop, settings.checkpoint_interval)
        except (WitnessFailure, ExchangeError) as exc:
            backoff = next_backoff(backoff, settings.witness_max_backoff)
            log.warning("cannot get a cosignature now", extra={"witness": client.name, "reason": str(exc)})
            await wait(stop, backoff)
        except Exception:  # a bug must not end the task: the repository would silently stop being witnessed
            backoff = next_backoff(backoff, settings.witness_max_backoff)
            log.exception("unexpected failure while asking for a cosignature", extra={"witness": client.name})
            await wait(stop, backoff)


async def run(services: Services, stop: asyncio.Event) -> None:
    """Ask every configured witness to cosign each new checkpoint (nothing to do without witnesses)."""
    endpoints = services.federation.witnesses
    if not endpoints:
        return
    timeout = aiohttp.ClientTimeout(total=services.settings.witness_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        clients = [WitnessClient(e, services.log, services.federation.store, session) for e in endpoints]
        await asyncio.gather(*(follow_witness(client, services, stop) for client in clients))
