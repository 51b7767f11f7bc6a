"""Following an upstream repository: each step verified as ``exchange follow`` verifies, then stored whole.

One step, from the newest checkpoint the mirror holds (size S, the size of its log):

1. the upstream's next signed checkpoint (size N ≤ S + ``mirror_step``), its signature checked with
   the upstream's log key (pinned at the first sync, or by ``mirror_log_key``) and, where witnesses are
   required, their cosignatures;
2. the upstream's entries S … N-1: appended to the mirror's own tree, they must make exactly the root
   the checkpoint signs, so the upstream's new history extends the one the mirror holds (a rewritten
   history, a split view or altered entries cannot pass);
3. the key directory for the key events of those entries (each key's thumbprint as the log records it)
   and the participants;
4. the feed's changes whose log entries lie below N: each JWS verified with its key as it stood when
   received, each content equal to what was signed, each log entry naming exactly that submission;
5. everything stored in one transaction with the checkpoint, to which the mirror adds its own
   ``cosignature/v1`` line ("I hold these entries and serve them").

A check that fails stops the mirror for good (:attr:`MirrorState.stopped`): it keeps serving the last
verified state, ``/readyz`` answers 503 with the reason, and the log says it. An upstream that cannot
be reached is only a delay: the mirror tries again, and says how far behind it is.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from exchange import ijson, times
from exchange.content import content_sha256
from exchange.errors import Unavailable
from exchange.feedcheck import Inconsistency, KeyDirectory, check_change, is_hidden, verify_entry, verify_jws
from exchange.identifiers import parse_record_key, participant_of_kid, sniff_serialization
from exchange.mirror.step import MirroredKey, MirrorStep, RootMismatch
from exchange.models import Decision, Participant, QueuedSubmission, RecordKey, StoredCheckpoint, SubmissionState
from exchange.publickeys import PublicKey
from exchange.repository.port import Repository
from exchange.sequencer import LogEntry, NewVersion
from exchange.settings import Settings
from exchange.transparency.cosignature import QuorumError, WitnessSigner, check_quorum
from exchange.transparency.note import NoteError, parse_checkpoint, verify_note
from exchange.transport import ProblemError, Transport, TransportError
from exchange.validation import Validator
from exchange.visibility import signed_visibility

log = logging.getLogger("exchange.mirror")

#: Entries and changes asked for at once (the upstream's page limit).
PAGE = 1000
#: A step takes the largest checkpoint within ``mirror_step`` entries, or the first beyond; never one
#: further than this many steps (an upstream signs a checkpoint every second while its log grows).
MAX_STEPS = 10


@dataclass
class MirrorState:
    """Where the mirror stands, for ``GET /v1/info`` and ``/readyz``."""

    upstream: str
    #: the upstream's origin (the audience its submissions are signed for), its log's origin and key
    origin: str | None = None
    log_origin: str | None = None
    log_key: str | None = None
    size: int = 0
    seq: int = 0
    upstream_size: int = 0
    synced_at: str | None = None
    #: why the mirror stopped following for good (the upstream showed something that does not verify)
    stopped: str | None = None
    #: the last reason it could not take a step (the upstream unreachable, a quorum not met): it retries
    waiting: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "upstream_origin": self.origin,
            "size": self.size,
            "seq": self.seq,
            "upstream_size": self.upstream_size,
            "behind": max(0, self.upstream_size - self.size),
            "synced_at": self.synced_at,
            "stopped": self.stopped,
            "waiting": self.waiting,
        }


class Mirror:
    """A read-only copy of one upstream repository, brought up to date step by step."""

    def __init__(
        self,
        settings: Settings,
        repository: Repository,
        validator: Validator,
        cosigner: WitnessSigner,
        transport: Transport | None = None,
    ) -> None:
        assert settings.mirror_of is not None
        self.settings = settings
        self.repository = repository
        self.validator = validator
        self.cosigner = cosigner
        token = settings.mirror_token.get_secret_value() if settings.mirror_token else None
        self.transport = transport or Transport(settings.mirror_of, token=token)
        self.state = MirrorState(settings.mirror_of.rstrip("/"))
        self.keys: dict[str, PublicKey] = {}

    async def close(self) -> None:
        await self.transport.close()

    # ---- the loop ------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Take steps until stopped; wait ``mirror_interval`` whenever there is nothing to take."""
        while not stop.is_set() and self.state.stopped is None:
            try:
                progressed = await self.step()
            except Inconsistency as exc:
                self.state.stopped = str(exc)
                log.error("the mirror stopped following its upstream", extra={"reason": str(exc)})
                return
            except (TransportError, Unavailable) as exc:
                self.state.waiting = str(exc)
                log.warning("the mirror could not take a step", extra={"reason": str(exc)})
                progressed = False
            except Exception as exc:  # a fault of this node: said, and tried again, never a silent stop
                self.state.waiting = f"{type(exc).__name__}: {exc}"
                log.exception("the mirror failed to take a step")
                progressed = False
            if not progressed and self.state.waiting is not None:
                # waiting for cosignatures or for the upstream: the feed may well have grown already, so a
                # long poll would answer at once; ask again after a pause instead
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(1.0, self.settings.mirror_interval))
            elif not progressed:
                await self._wait(stop)

    async def _wait(self, stop: asyncio.Event) -> None:
        """Until the upstream's feed grows (a long poll), ``mirror_interval`` passes, or the node stops."""
        poll = asyncio.ensure_future(
            self.transport.get(
                "/v1/changes",
                params={
                    "since": self.state.seq,
                    "limit": 1,
                    "feed": "longpoll",
                    "timeout": self.settings.mirror_interval,
                },
                retry=False,
                timeout=self.settings.mirror_interval + 10,
            )
        )
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({poll, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if poll.done() and poll.exception() is not None:  # the upstream is down: wait before asking again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.mirror_interval)
        finally:
            for task in (poll, stopped):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await poll  # cancelled, or failed: the next step says why

    async def catch_up(self) -> None:
        """Take steps until the mirror holds the upstream's newest checkpoint (for ``--once``); raises
        :class:`Inconsistency` when a check fails, :class:`TransportError` when the upstream is down."""
        while await self.step():
            pass
        if self.state.waiting is not None:
            raise Inconsistency(self.state.waiting)

    async def step(self) -> bool:
        """One step; True when the mirror took one (there may be more to take)."""
        await self._identity()
        held = await self.repository.latest_checkpoint()
        size = held.size if held is not None else 0
        self.state.size, self.state.seq = size, await self.repository.last_seq()
        checkpoint, body = await self._next_checkpoint(size)
        self.state.upstream_size = max(self.state.upstream_size, checkpoint.size)
        if checkpoint.size < size:
            raise Inconsistency(f"the upstream's checkpoint of size {checkpoint.size} is older than the {size} held")
        if checkpoint.size == size:
            if held is not None and held.root != checkpoint.root:
                raise Inconsistency(
                    f"the upstream signed two different trees of size {size}: it rewrote the history it showed"
                )
            self.state.synced_at = times.iso(times.now())
            self.state.waiting = None
            return False
        try:
            self._quorum(checkpoint.note)
        except QuorumError as exc:
            self.state.waiting = f"checkpoint of size {checkpoint.size}: {exc}"
            return False
        if checkpoint.size - size > MAX_STEPS * self.settings.mirror_step:  # one step is held in memory
            self.state.waiting = (
                f"the upstream lists no checkpoint within {MAX_STEPS * self.settings.mirror_step:,} entries of the "
                f"{size:,} held (its next is of size {checkpoint.size:,})"
            )
            return False
        entries = await self._entries(size, checkpoint.size)
        step = MirrorStep(entries=entries, checkpoint=checkpoint)
        step.participants = await self._participants()
        await self._log_events(step)
        await self._changes(step, self.state.seq, {e.index: e.entry for e in entries})
        step.checkpoint = StoredCheckpoint(
            checkpoint.size, checkpoint.root, checkpoint.note + self.cosigner.cosign(body), checkpoint.signed_at
        )
        try:
            await self.repository.mirror(step)
        except RootMismatch as exc:
            raise Inconsistency(
                f"the upstream's entries {size}–{checkpoint.size - 1} do not extend the history held to the "
                f"tree its checkpoint of size {checkpoint.size} signs ({exc}): it rewrote its history"
            ) from None
        self.state.size, self.state.synced_at, self.state.waiting = checkpoint.size, times.iso(times.now()), None
        self.state.seq = step.versions[-1].seq if step.versions else self.state.seq
        if step.hidden:
            self.state.seq = max(self.state.seq, *step.hidden)
        log.info("mirrored", extra={"size": checkpoint.size, "changes": len(step.versions) + len(step.hidden)})
        return True

    # ---- the upstream's identity and checkpoints -------------------------------------------------------

    async def _identity(self) -> None:
        """The upstream's origin and log key: pinned by the settings or by the checkpoints already held."""
        if self.state.log_key is not None:
            return
        info = await self._json("/v1/info")
        origin, log_origin, key = info.get("origin"), info.get("log_origin"), info.get("log_verifier_key")
        if not (isinstance(origin, str) and isinstance(log_origin, str) and isinstance(key, str)):
            raise Inconsistency("the upstream's GET /v1/info names no origin, log_origin and log_verifier_key")
        pinned = self.settings.mirror_log_key
        if pinned is not None and pinned != key:
            raise Inconsistency(f"the upstream's log key is {key}, not the pinned {pinned}")
        held = await self.repository.latest_checkpoint()
        if held is not None:
            try:
                verify_note(held.note, key)
            except NoteError:
                raise Inconsistency(
                    "the upstream's log key does not verify the checkpoints this mirror holds: another log, "
                    "or its key changed"
                ) from None
        self.state.origin, self.state.log_origin, self.state.log_key = origin, log_origin, key
        self.keys = {k.kid: k for k in await self.repository.list_keys()}

    async def _next_checkpoint(self, size: int) -> tuple[StoredCheckpoint, str]:
        """The upstream's checkpoint to take next, verified, and its body: the largest it lists within one
        step (or the first beyond, when none is within), after asking it to sign its newest; when it lists
        none beyond ``size``, its newest (the same size: the caller compares the roots)."""
        answer = await self.transport.get("/v1/log/checkpoint")  # the upstream signs its newest size first
        if answer.status != 200:
            raise ProblemError(answer.problem, f"GET /v1/log/checkpoint answered {answer.status}")
        listed = (await self._json("/v1/log/checkpoints", after=size)).get("checkpoints")
        if not isinstance(listed, list):
            raise Inconsistency("GET /v1/log/checkpoints answered no checkpoints list")
        notes = [c for c in listed if isinstance(c, dict) and isinstance(c.get("size"), int)]
        if not notes:
            return self._open(answer.raw.decode("utf-8", errors="replace"), times.iso(times.now()))
        within = [c for c in notes if c["size"] <= size + self.settings.mirror_step]
        chosen = within[-1] if within else notes[0]
        return self._open(chosen.get("note"), chosen.get("signed_at"))

    def _open(self, note: Any, signed_at: Any) -> tuple[StoredCheckpoint, str]:
        assert self.state.log_key is not None and self.state.log_origin is not None
        if not isinstance(note, str):
            raise Inconsistency("a checkpoint of the upstream is not text")
        try:
            body = verify_note(note, self.state.log_key)
            parsed = parse_checkpoint(body)
        except NoteError as exc:
            raise Inconsistency(f"the upstream's checkpoint does not verify with its log key: {exc}") from None
        if parsed.origin != self.state.log_origin:
            raise Inconsistency(f"the checkpoint is of log {parsed.origin!r}, not {self.state.log_origin!r}")
        when = signed_at if isinstance(signed_at, str) else times.iso(times.now())
        return StoredCheckpoint(parsed.size, parsed.root, note, when), body

    def _quorum(self, note: str) -> None:
        witnesses = self.settings.mirror_witnesses
        if witnesses:
            quorum = self.settings.mirror_quorum if self.settings.mirror_quorum is not None else len(witnesses)
            check_quorum(note, witnesses, quorum)

    # ---- entries, registry, changes ------------------------------------------------------------------

    async def _entries(self, start: int, end: int) -> list[LogEntry]:
        out: list[LogEntry] = []
        while start + len(out) < end:
            at = start + len(out)
            page = (await self._json("/v1/log/entries", start=at, end=min(end, at + PAGE))).get("entries")
            if not isinstance(page, list) or not page:
                raise Inconsistency(f"the upstream serves no log entry {at}, below its checkpoint of size {end}")
            for item in page:
                index = item.get("index") if isinstance(item, dict) else None
                if index != start + len(out) or index >= end:
                    raise Inconsistency(f"the upstream served log entry {index!r} where {start + len(out)} belongs")
                try:
                    out.append(LogEntry(index, base64.b64decode(item.get("entry", ""), validate=True)))
                except (binascii.Error, TypeError, ValueError):
                    raise Inconsistency(f"log entry {index} is not base64") from None
        return out

    async def _participants(self) -> list[Participant]:
        found = (await self._json("/v1/participants")).get("participants")
        if not isinstance(found, list):
            raise Inconsistency("GET /v1/participants answered no participants list")
        out = []
        for p in found:
            if not isinstance(p, dict) or not isinstance(p.get("id"), str) or not isinstance(p.get("type"), str):
                raise Inconsistency("a participant of the upstream has no id or type")
            listed = p.get("jurisdictions")
            jurisdictions = listed if isinstance(listed, list) else []
            out.append(
                Participant(
                    p["id"],
                    str(p.get("name") or p["id"]),
                    p["type"],
                    tuple(str(j) for j in jurisdictions),
                    str(p.get("created_at") or ""),
                )
            )
        return out

    async def _log_events(self, step: MirrorStep) -> None:
        """The keys the step's entries add or revoke (from the directory, checked against the log), and
        the endorsements they record (``at``: the time the endorsement was received)."""
        events = [(e.index, _fields(e)) for e in step.entries]
        for index, fields in events:
            if fields.get("type") == "endorsement" and isinstance(fields.get("version"), int):
                try:
                    participant, kind, record_id = parse_record_key(str(fields.get("record")))
                except ValueError:
                    raise Inconsistency(f"log entry {index} endorses {fields.get('record')!r}, not a record") from None
                by = {"by": fields.get("kid"), "submission_id": fields.get("submission_id"), "log_index": index}
                step.endorsed.append(
                    (
                        RecordKey(participant, kind, record_id),
                        fields["version"],
                        {**by, "at": fields.get("received_at")},
                    )
                )
        keyed = [(i, f) for i, f in events if f.get("type") == "key"]
        if not keyed:
            return
        directory = KeyDirectory.from_jwks(await self._json("/v1/keys"), times.now())
        for index, fields in keyed:
            kid = fields.get("kid")
            key = directory.get(str(kid))
            if key is None:
                raise Inconsistency(f"log entry {index} records key {kid!r}, which the key directory does not hold")
            if fields.get("action") == "added":
                if key.thumbprint != fields.get("jwk_thumbprint"):
                    raise Inconsistency(f"key {kid} in the directory is not the key log entry {index} added")
                step.keys.append(MirroredKey(key, str(fields.get("at")), index))
                self.keys[key.kid] = key
            elif fields.get("action") == "revoked":
                if key.revoked_at is None:
                    raise Inconsistency(f"log entry {index} revokes key {kid}, which the directory shows valid")
                step.revoked[key.kid] = (times.iso(key.revoked_at), key.revoked_reason)
                self.keys[key.kid] = key

    async def _changes(self, step: MirrorStep, since: int, new: dict[int, bytes]) -> None:
        """The feed's changes whose entries the step's checkpoint covers, verified, as versions to store."""
        size = step.checkpoint.size
        while True:
            page = await self._json("/v1/changes", since=since, limit=PAGE, include="record,jws")
            results = page.get("results")
            if not isinstance(results, list):
                raise Inconsistency("a page of the upstream's feed has no results")
            visible = [c for c in results if not is_hidden(c)]
            stored = await self._stored_entries([c["log_index"] for c in visible if _below(c, size, new)], new)
            for change in results:
                seq = change.get("seq") if isinstance(change, dict) else None
                if not isinstance(seq, int) or seq != since + 1:
                    raise Inconsistency(f"the upstream's feed served seq {seq!r} after seq {since}: not dense")
                if is_hidden(change):
                    step.hidden.append(seq)
                    since = seq
                    continue
                try:
                    check_change(change)
                except Inconsistency as exc:
                    raise exc.at(seq, None) from None
                if change["log_index"] >= size:
                    return
                try:
                    self._take(step, change, new.get(change["log_index"]) or stored.get(change["log_index"]))
                except Inconsistency as exc:
                    raise exc.at(seq, change.get("record")) from None
                since = seq
            if len(results) < PAGE:
                return

    async def _stored_entries(self, indexes: Sequence[int], new: dict[int, bytes]) -> dict[int, bytes]:
        wanted = sorted(i for i in indexes if i not in new)
        if not wanted:
            return {}
        return dict(await self.repository.log_entries(wanted[0], wanted[-1] + 1))

    def _take(self, step: MirrorStep, change: dict[str, Any], entry: bytes | None) -> None:
        signed = verify_jws(change, self.keys.get, self.state.origin)
        verify_entry(change, entry, signed)
        participant, kind, record_id = str(change["record"]).split("/", 2)
        key = RecordKey(participant, kind, record_id)
        visibility, readers = signed_visibility(signed.document, signed.owner, signed.participant)
        if (change.get("visibility", "public"), tuple(change.get("readers") or ())) != (visibility, readers):
            raise Inconsistency("the change's visibility is not the one its submission signed")
        upsert = change["action"] == "upsert"
        record = signed.record if upsert else None
        body = str(change["jws"]).encode("utf-8")
        submission = QueuedSubmission(
            participant=signed.participant,
            submission_id=signed.submission_id,
            kind=kind,
            received_at=str(change["received_at"]),
            jws_sha256=signed.jws_sha256,
            serialization=sniff_serialization(body),
            body=body,
        )
        decision = Decision(
            submission=submission,
            kid=signed.kid,
            payload_sha256=signed.payload_sha256,
            record=key,
            action="upsert" if upsert else "withdraw",
            schema=signed.schema,
            content=orjson.dumps(record) if upsert else None,
            content_sha256=content_sha256(signed.schema, record, visibility, readers) if upsert else None,
            index=self.validator.index_fields(kind, record) if upsert and isinstance(record, dict) else None,
            visibility=visibility,
            readers=readers,
        )
        accepted_at = str(change.get("accepted_at") or change["received_at"])
        review = change.get("review") if isinstance(change.get("review"), dict) else None
        state = SubmissionState(
            participant=signed.participant,
            submission_id=signed.submission_id,
            jws_sha256=signed.jws_sha256,
            received_at=submission.received_at,
            status="accepted",
            kind=kind,
            kid=signed.kid,
            record=str(key),
            version=change["version"],
            seq=change["seq"],
            log_index=change["log_index"],
            decided_at=accepted_at,
            payload_sha256=signed.payload_sha256,
        )
        if review is not None:
            state.review = {
                "action": "approve",
                "participant": participant_of_kid(str(review.get("by", ""))),
                "submission_id": review.get("submission_id"),
            }
        step.decided.append((decision, state))
        step.versions.append(
            NewVersion(key, change["version"], decision, change["seq"], change["log_index"], review, accepted_at)
        )

    async def _json(self, path: str, **params: Any) -> dict[str, Any]:
        body = await self.transport.get_json(path, params=params or None)
        if not isinstance(body, dict):
            raise Inconsistency(f"GET {path} did not answer a JSON object")
        return body


def _below(change: Any, size: int, new: dict[int, bytes]) -> bool:
    index = change.get("log_index") if isinstance(change, dict) else None
    return isinstance(index, int) and not isinstance(index, bool) and 0 <= index < size and index not in new


def _fields(entry: LogEntry) -> dict[str, Any]:
    try:
        fields = ijson.loads(entry.entry)
    except ijson.IJSONError:
        raise Inconsistency(f"log entry {entry.index} is not JSON") from None
    if not isinstance(fields, dict):
        raise Inconsistency(f"log entry {entry.index} is not a JSON object")
    return fields
