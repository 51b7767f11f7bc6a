"""Follow a repository's change feed into a local copy, verifying every change before it is kept.

``await follow(FollowOptions(url, out))`` keeps ``out`` up to date from ``GET /v1/changes`` (pull or
Server-Sent Events) and returns when caught up (``once``) or when cancelled. Each change is written
only after

* its seq is the next one (without filters seqs are dense: 1, 2, 3 …; with filters only the order is
  checked, since the seqs of other changes are skipped by design);
* its JWS parses and verifies with the key of the key directory (``GET /v1/keys``) that was valid when
  the submission was received, and its signed payload names this participant, kind, record, action and
  submission and carries exactly the content served;
* the log entry at its ``log_index`` records this accepted submission, record, version and the SHA-256
  of these JWS bytes, and its inclusion proof leads to the root of a checkpoint signed by the log's key,
  itself consistent with the previous checkpoint trusted.

The first failure stops the follower with :class:`Inconsistency` (the seq, the record and what failed);
changes before it in the same batch are kept. A repository that stays unreachable after every retry
raises :class:`Unreachable`. ``out`` ending in ``.ndjson`` is a journal file; anything else is a folder
holding ``changes.ndjson`` and one file per current record. See :mod:`connectors.follow.state` for the
state file and :mod:`connectors.follow.journal` for the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from connectors.follow.http import RETRY, Event, FeedClient, Refused, Transient, Unreachable, loads, query
from connectors.follow.journal import Journal, JournalError, RecordTree, record_path_parts
from connectors.follow.state import FilterSet, State, StateError
from exchange import times
from exchange.feedcheck import (
    Inconsistency,
    KeyDirectory,
    TrustedCheckpoint,
    b64decode,
    check_change,
    is_hidden,
    open_checkpoint,
    signing_keys,
    verify_entry,
    verify_jws,
)
from exchange.transparency.cosignature import check_quorum
from exchange.transparency.note import NoteError
from exchange.transparency.verify import ProofError, verify_consistency, verify_inclusion
from exchange.transport import RetryPolicy, TransportError
from exchange.verification import VerifiedSubmission

__all__ = [
    "FollowOptions",
    "FollowResult",
    "Inconsistency",
    "Layout",
    "SetupError",
    "Unreachable",
    "follow",
]

Mode = Literal["pull", "sse"]
Progress = Callable[[str], None]

_PAGE = 100
_PROOF_CONCURRENCY = 16
_ENTRY_SPAN = 1000  # the most entries one GET /v1/log/entries answers
_ENTRY_GAP = 64  # fetch across gaps this small rather than making another request
_KEYS_FRESH = timedelta(seconds=60)
_CHECKPOINT_TRIES = 6


class SetupError(ValueError):
    """The options do not fit the local copy (or the repository is not one to follow)."""


@dataclass(frozen=True, slots=True)
class FollowOptions:
    url: str
    out: Path
    mode: Mode = "sse"
    since: int | None = None
    kinds: tuple[str, ...] = ()
    participants: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    once: bool = False
    token: str | None = None
    retry: RetryPolicy = RETRY
    #: witnesses' verifier keys (cosignature/v1 vkeys) and how many of them must cosign each checkpoint
    witnesses: tuple[str, ...] = ()
    quorum: int = 0
    idle_probe: float = 0.5
    stream_idle_timeout: float = 60.0
    longpoll_timeout: float = 30.0

    @property
    def filters(self) -> FilterSet:
        return {
            "kind": list(self.kinds),
            "participant": list(self.participants),
            "jurisdiction": list(self.jurisdictions),
        }

    @property
    def filtered(self) -> bool:
        return bool(self.kinds or self.participants or self.jurisdictions)


@dataclass
class FollowResult:
    last_seq: int
    written: int
    checkpoint_size: int | None


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the copy lives: the journal, the state file and (folder mode) the record files."""

    journal: Path
    state: Path
    records: RecordTree | None

    @classmethod
    def of(cls, out: Path) -> Layout:
        if out.suffix == ".ndjson":
            return cls(out, out.with_name(out.name + ".checkpoint"), None)
        return cls(out / "changes.ndjson", out / ".checkpoint", RecordTree(out))


def _ignore(_: str) -> None:
    return None


class Follower:
    def __init__(self, options: FollowOptions, client: FeedClient, progress: Progress = _ignore) -> None:
        self.options = options
        self.client = client
        self.progress = progress
        self.layout = Layout.of(options.out)
        self.journal: Journal | None = None
        self.state: State | None = None
        self.info_keys: list[str] = []
        self.directory: KeyDirectory | None = None
        self.last = 0
        self.written = 0
        self.dense = not options.filtered
        self._opened = False
        #: whether the repository answers GET /v1/log/proofs/inclusion (older ones answer 404)
        self._batch_proofs = True

    # ---- set-up ----------------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            journal = Journal.open(self.layout.journal)
        except JournalError as exc:
            raise SetupError(str(exc)) from None
        self.journal = journal
        if journal.truncated:
            self.progress(f"cut a torn last line ({journal.truncated} bytes) from {self.layout.journal}")
        try:
            saved = State.load(self.layout.state)
        except StateError as exc:
            raise SetupError(str(exc)) from None
        fresh = journal.last_seq is None
        if not fresh and self.options.since is not None:
            raise SetupError(
                f"--since applies to a new copy only; {self.layout.journal} already holds changes up to "
                f"seq {journal.last_seq} and resumes from there"
            )
        info = await self.client.get_json("/v1/info")
        self.state = self._trust(info, saved, fresh)
        state = self.state
        self.last = journal.last_seq if journal.last_seq is not None else state.since
        if self.layout.records is not None and state.applied_seq < self.last:
            self._rebuild(state.applied_seq)
        state.save(self.layout.state)
        if journal.last is not None:
            await self._anchor(journal.last)
        if self.options.filtered:
            self.progress(
                "filters in effect: the seqs of other changes are skipped, so gaps cannot be detected; "
                "only the order of seqs is checked"
            )
        self.progress(f"following {self.client.url} from seq {self.last} into {self.options.out}")

    def _trust(self, info: Any, saved: State | None, fresh: bool) -> State:
        if not isinstance(info, dict) or not isinstance(info.get("log_origin"), str):
            raise SetupError(f"{self.client.url} does not describe an exchange repository (GET /v1/info)")
        keys = info.get("log_verifier_keys") or [info.get("log_verifier_key")]
        self.info_keys = [k for k in keys if isinstance(k, str)]
        if not self.info_keys:
            raise SetupError(f"{self.client.url} publishes no log verifier key (GET /v1/info)")
        origin = info.get("origin") if isinstance(info.get("origin"), str) else None
        filters = self.options.filters
        if saved is None:
            if not fresh:
                self.progress(f"no state file {self.layout.state}: trusting the log key published now")
            return State(
                self.client.url, origin, info["log_origin"], list(self.info_keys), filters, self.options.since or 0
            )
        if saved.log_origin != info["log_origin"]:
            raise SetupError(
                f"this copy follows the log {saved.log_origin!r}, but {self.client.url} serves {info['log_origin']!r}"
            )
        if fresh:
            saved.filters, saved.since, saved.applied_seq = filters, self.options.since or 0, 0
        elif _normal(saved.filters) != _normal(filters):
            raise SetupError(
                f"this copy was made with filters {_describe(saved.filters)}; resume it with the same filters "
                f"(given: {_describe(filters)}) or start a new copy"
            )
        saved.url, saved.origin = self.client.url, origin  # submissions name the origin the repository has now
        return saved

    def _rebuild(self, applied: int) -> None:
        """Write the record files of the journal lines they lag behind (a crash between the two)."""
        assert self.journal is not None and self.layout.records is not None and self.state is not None
        try:
            count = self.layout.records.apply_newest_first(
                c for c in self.journal.newest_after(applied) if not is_hidden(c)
            )
        except JournalError as exc:
            raise SetupError(str(exc)) from None
        self.state.applied_seq = self.last
        if count:
            self.progress(f"rebuilt {count} record file(s) the journal was ahead of (up to seq {self.last})")

    async def _anchor(self, mine: dict[str, Any]) -> None:
        """The repository still serves the last change of the local copy as it was (same feed, no rollback)."""
        seq = mine["seq"]
        page = await self.client.get_json("/v1/changes", self._params(since=str(seq - 1), limit="1"))
        served = _list(page, "results")
        theirs = served[0] if served and isinstance(served[0], dict) else {}
        # a placeholder (a change this reader may not see, then or now) is compared by its seq alone
        hidden = is_hidden(mine) or is_hidden(theirs)
        for name in ("seq",) if hidden else ("seq", "record", "version", "log_index", "submission_id"):
            if theirs.get(name) != mine.get(name):
                raise Inconsistency(
                    f"the local copy ends with this change, but the repository now serves "
                    f"{name} {theirs.get(name)!r} there instead of {mine.get(name)!r} "
                    "(another repository, or one rolled back)",
                    seq=seq,
                    record=mine.get("record"),
                )

    # ---- one batch -------------------------------------------------------------------------------

    async def process(self, changes: Sequence[Any]) -> None:
        """Verify a batch in order; keep every change up to the first that fails, then raise for that one."""
        candidates, failure = self._order(changes)
        visible = [c for c in candidates if not is_hidden(c)]
        verified: list[dict[str, Any]] = []
        checkpoint: TrustedCheckpoint | None = None
        if visible:
            try:
                checkpoint = await self._checkpoint(max(c["log_index"] for c in visible) + 1)
                verified, later = await self._verify(visible, checkpoint)
            except Inconsistency as exc:
                first = visible[0]
                raise exc.at(first["seq"], first["record"]) from None
            failure = later or failure
        # the placeholders of changes this reader may not see keep their places, up to the first change
        # that failed its checks
        kept = {id(c) for c in verified}
        stop = next((n for n, c in enumerate(candidates) if not is_hidden(c) and id(c) not in kept), len(candidates))
        self._commit(candidates[:stop], checkpoint)
        if failure is not None:
            raise failure

    def _order(self, changes: Sequence[Any]) -> tuple[list[dict[str, Any]], Inconsistency | None]:
        """The changes that are well formed and in order, up to the first that is not."""
        good: list[dict[str, Any]] = []
        last = self.last
        for change in changes:
            seq = change.get("seq") if isinstance(change, dict) else None
            record = change.get("record") if isinstance(change, dict) else None
            try:
                if not is_hidden(change):
                    check_change(change)
                    if record_path_parts(change["record"]) is None:
                        raise Inconsistency(f"record name {change['record']!r} is not <participant>/<kind>/<record_id>")
                if change["seq"] <= last:
                    raise Inconsistency(
                        f"seq {change['seq']} came after seq {last}: the feed repeated a change or went backwards"
                    )
                if self.dense and change["seq"] != last + 1:
                    missing = f"seq {last + 1}" if change["seq"] == last + 2 else f"seqs {last + 1}–{change['seq'] - 1}"
                    raise Inconsistency(f"gap in the feed: {missing} missing (seq {change['seq']} came after {last})")
            except Inconsistency as exc:
                return good, exc.at(seq if isinstance(seq, int) else None, record if isinstance(record, str) else None)
            good.append(change)
            last = change["seq"]
        return good, None

    async def _verify(
        self, changes: list[dict[str, Any]], checkpoint: TrustedCheckpoint
    ) -> tuple[list[dict[str, Any]], Inconsistency | None]:
        await self._keys(changes)
        assert self.directory is not None and self.state is not None
        directory, origin = self.directory, self.state.origin
        # The proofs are fetched while the entries are and while the signatures are checked: the repository
        # answers on its own core while this one verifies. Every check below still runs, in the same order.
        proofs_fetched = asyncio.create_task(self._proofs([c["log_index"] for c in changes], checkpoint.size))
        try:
            entries = await self._entries(sorted({c["log_index"] for c in changes}))
            signatures: list[VerifiedSubmission | Inconsistency] = []
            for change in changes:
                try:
                    signatures.append(verify_jws(change, directory.get, origin))
                except Inconsistency as exc:
                    signatures.append(exc)
                    break  # the changes after it are not kept, whatever their signatures
                await asyncio.sleep(0)  # let the proofs' requests and answers through
            proofs = await proofs_fetched
        finally:
            if not proofs_fetched.done():
                proofs_fetched.cancel()
            elif not proofs_fetched.cancelled():
                proofs_fetched.exception()  # retrieved: a failure of the entries' fetch is the one raised
        verified: list[dict[str, Any]] = []
        for change, signed in zip(changes, signatures, strict=False):
            try:
                if isinstance(signed, Inconsistency):
                    raise signed
                leaf = verify_entry(change, entries.get(change["log_index"]), signed)
                proof = proofs[change["log_index"]]
                if isinstance(proof, Inconsistency):
                    raise proof
                try:
                    verify_inclusion(change["log_index"], checkpoint.size, leaf, proof, checkpoint.root)
                except ProofError as exc:
                    raise Inconsistency(
                        f"log entry {change['log_index']} is not included in the signed checkpoint of size "
                        f"{checkpoint.size}: {exc}"
                    ) from None
            except Inconsistency as exc:
                return verified, exc.at(change["seq"], change["record"])
            verified.append(change)
        return verified, None

    def _commit(self, verified: list[dict[str, Any]], checkpoint: TrustedCheckpoint | None) -> None:
        """Journal first (fsynced), then record files, then the state: no await, so never half done."""
        if not verified:
            return
        assert self.journal is not None and self.state is not None
        self.journal.append(verified)
        if self.layout.records is not None:
            self.layout.records.apply([c for c in verified if not is_hidden(c)])
        first, last = verified[0]["seq"], verified[-1]["seq"]
        self.state.applied_seq = last
        if checkpoint is not None:
            self.state.checkpoint = checkpoint
        self.state.save(self.layout.state)
        self.last = last
        self.written += len(verified)
        span = f"seq {first}" if first == last else f"seqs {first}–{last}"
        size = f" (checkpoint of size {checkpoint.size})" if checkpoint else ""
        self.progress(f"verified and wrote {span}{size}")

    # ---- keys, checkpoints, entries and proofs ---------------------------------------------------

    async def _keys(self, changes: list[dict[str, Any]]) -> None:
        """Fetch the key directory when a key is unknown, or when a change is newer than the copy in hand."""
        directory = self.directory
        if directory is not None and directory.fetched_at is not None:
            stale = any(
                directory.get(c["kid"]) is None or times.parse(c["received_at"]) > directory.fetched_at - _KEYS_FRESH
                for c in changes
            )
            if not stale:
                return
        fetched_at = times.now()
        self.directory = KeyDirectory.from_jwks(await self.client.get_json("/v1/keys"), fetched_at)

    async def _checkpoint(self, covering: int) -> TrustedCheckpoint:
        """The newest signed checkpoint, consistent with the trusted one, of at least ``covering`` entries."""
        assert self.state is not None
        state = self.state
        newest = state.checkpoint
        unwitnessed: str | None = None
        for attempt in range(_CHECKPOINT_TRIES):
            note = await self.client.get_text("/v1/log/checkpoint")
            fresh, _ = open_checkpoint(note, state.log_origin, state.verifier_keys)
            if self.options.witnesses:
                try:
                    check_quorum(note, self.options.witnesses, self.options.quorum)
                except NoteError as exc:  # its cosignatures may still be on their way: ask again
                    unwitnessed = f"the signed checkpoint of size {fresh.size} lacks the witness quorum: {exc}"
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
            self._rotate(note)
            if newest is None:
                newest = fresh
            elif fresh.size >= newest.size:
                await self._consistent(newest, fresh)
                newest = fresh
            else:  # an older checkpoint (a cache or a lagging replica): it must still be a prefix
                await self._consistent(fresh, newest)
            state.checkpoint = newest
            if newest.size >= covering:
                return newest
            await asyncio.sleep(0.2 * (attempt + 1))
        if unwitnessed is not None:
            raise Inconsistency(unwitnessed)
        size = newest.size if newest else 0
        raise Inconsistency(f"no signed checkpoint covers log index {covering - 1} (the newest has size {size})")

    def _rotate(self, note: str) -> None:
        """Trust a newly published log key once a checkpoint is signed by it and by a key already trusted."""
        assert self.state is not None
        new = [k for k in self.info_keys if k not in self.state.verifier_keys]
        for key in signing_keys(note, new) if new else []:
            self.state.verifier_keys.append(key)
            self.progress(f"now trusting the log key {key.rsplit('+', 1)[0]}: it signs beside a trusted key")

    async def _consistent(self, old: TrustedCheckpoint, new: TrustedCheckpoint) -> None:
        if old.size == 0:
            return
        if old.size == new.size:
            if old.root != new.root:
                raise Inconsistency(f"two signed checkpoints of size {old.size} have different roots: the log forked")
            return
        try:
            body = await self.client.get_json(
                "/v1/log/proof/consistency", [("old", str(old.size)), ("new", str(new.size))]
            )
        except Refused as exc:
            raise Inconsistency(f"no consistency proof from size {old.size} to {new.size}: {exc}") from None
        proof = [b64decode(h, "a consistency proof hash") for h in _list(body, "proof")]
        try:
            verify_consistency(old.size, new.size, old.root, new.root, proof)
        except ProofError as exc:
            raise Inconsistency(
                f"the signed checkpoint of size {new.size} is not consistent with the trusted one of size "
                f"{old.size}: {exc}"
            ) from None

    async def _entries(self, indexes: list[int]) -> dict[int, bytes]:
        ranges: list[list[int]] = []
        for index in indexes:
            if ranges and index - ranges[-1][1] <= _ENTRY_GAP and index + 1 - ranges[-1][0] <= _ENTRY_SPAN:
                ranges[-1][1] = index + 1
            else:
                ranges.append([index, index + 1])
        found: dict[int, bytes] = {}
        for start, end in ranges:
            body = await self.client.get_json("/v1/log/entries", [("start", str(start)), ("end", str(end))])
            for item in _list(body, "entries"):
                if isinstance(item, dict) and isinstance(item.get("index"), int) and start <= item["index"] < end:
                    found[item["index"]] = b64decode(item.get("entry"), f"log entry {item['index']}")
        return found

    async def _proofs(self, indexes: list[int], size: int) -> dict[int, list[bytes] | Inconsistency]:
        """The inclusion proofs of ``indexes`` in the tree of ``size``: a request per 1,000 entries where the
        repository answers ``GET /v1/log/proofs/inclusion``, one per entry where it does not."""
        if self._batch_proofs:
            found: dict[int, list[bytes] | Inconsistency] = {}
            for start in range(0, len(indexes), _ENTRY_SPAN):
                chunk = indexes[start : start + _ENTRY_SPAN]
                try:
                    body = await self.client.get_json(
                        "/v1/log/proofs/inclusion", [("size", str(size)), ("index", ",".join(map(str, chunk)))]
                    )
                except Refused as exc:
                    if exc.status == 404 and not found:
                        self._batch_proofs = False  # an older repository: ask for each proof alone
                        return await self._proofs(indexes, size)
                    return {i: Inconsistency(f"no inclusion proofs in size {size}: {exc}") for i in indexes}
                found.update(_batch(body, chunk))
            return found
        gate = asyncio.Semaphore(_PROOF_CONCURRENCY)

        async def one(index: int) -> list[bytes] | Inconsistency:
            async with gate:
                try:
                    body = await self.client.get_json(
                        "/v1/log/proof/inclusion", [("index", str(index)), ("size", str(size))]
                    )
                except Refused as exc:
                    return Inconsistency(f"no inclusion proof of log entry {index} in size {size}: {exc}")
            try:
                return [b64decode(h, "an inclusion proof hash") for h in _list(body, "proof")]
            except Inconsistency as exc:
                return exc

        results = await asyncio.gather(*(one(i) for i in indexes))
        return dict(zip(indexes, results, strict=True))

    # ---- the feed --------------------------------------------------------------------------------

    def _params(self, **base: str) -> list[tuple[str, str]]:
        return query(base, {k: v for k, v in self.options.filters.items() if v})

    async def pull(self) -> None:
        """Page through the feed (long-polling once caught up), verifying each page as one batch."""
        cursor = self.last
        caught_up = False
        ahead: asyncio.Task[Any] | None = None
        while True:
            if ahead is not None:
                page, ahead = await ahead, None
            else:
                page = await self._page(cursor, caught_up)
            results = _list(page, "results")
            last_seq = page.get("last_seq") if isinstance(page, dict) else None
            if not isinstance(last_seq, int) or isinstance(last_seq, bool):
                raise Inconsistency("a page of the feed has no last_seq").at(cursor + 1, None)
            if len(results) >= _PAGE:  # more to come: the next page is read while this one is verified
                ahead = asyncio.create_task(self._page(last_seq, False))
            try:
                await self.process(results)
                self._covered(last_seq)
            except BaseException:
                _drop(ahead)
                raise
            cursor = last_seq
            caught_up = len(results) < _PAGE
            if caught_up and self.options.once:
                return

    def _covered(self, last_seq: int) -> None:
        """The page's last_seq agrees with what it served."""
        if self.dense and last_seq != self.last:
            raise Inconsistency(
                f"gap in the feed: the page says it covered changes up to seq {last_seq}, "
                f"but served none after seq {self.last}"
            ).at(self.last + 1, None)
        if last_seq < self.last:
            raise Inconsistency(f"the feed went backwards (last_seq {last_seq})").at(self.last, None)

    async def _page(self, cursor: int, caught_up: bool) -> Any:
        base = {"since": str(cursor), "limit": str(_PAGE), "include": "record,jws"}
        if caught_up and not self.options.once:
            base |= {"feed": "longpoll", "timeout": f"{self.options.longpoll_timeout:g}"}
        return await self.client.get_json("/v1/changes", self._params(**base), self.options.longpoll_timeout + 60)

    async def stream(self) -> None:
        """Read the event stream, reconnecting with Last-Event-ID and growing back-off when it drops."""
        failures = 0
        while True:
            queue: asyncio.Queue[Event | BaseException] = asyncio.Queue(maxsize=256)
            self._opened = False
            reader = asyncio.create_task(self._read(queue))
            try:
                done = await self._consume(queue)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            if done:
                return
            failures = 0 if self._opened else failures + 1
            if failures >= self.options.retry.attempts:
                raise Unreachable(f"{self.client.url}: the event stream failed {failures} times in a row")
            delay = self.options.retry.delay(max(0, failures - 1))
            self.progress(f"the event stream dropped; reconnecting from seq {self.last} in {delay:g} s")
            await asyncio.sleep(delay)

    async def _read(self, queue: asyncio.Queue[Event | BaseException]) -> None:
        """Put each event on ``queue``, then the error that ended the stream."""
        params = self._params(feed="eventsource", include="record,jws", since=str(self.last))

        def opened() -> None:
            self._opened = True

        events = self.client.events(params, str(self.last), self.options.stream_idle_timeout, opened)
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    await queue.put(event)
        except TransportError as exc:  # a drop (Transient), a refusal or a line past the limit
            await queue.put(exc)

    async def _consume(self, queue: asyncio.Queue[Event | BaseException]) -> bool:
        """Process events in batches until the stream ends (False) or, with ``once``, is caught up (True)."""
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), self.options.idle_probe if self.options.once else None)
            except TimeoutError:
                if await self._caught_up():
                    return True
                continue
            batch: list[Any] = []
            ended: BaseException | None = None
            while True:
                if isinstance(item, BaseException):
                    ended = item
                    break
                if item.event == "change":
                    batch.append(self._change_of(item))
                if len(batch) >= _PAGE or queue.empty():
                    break
                item = queue.get_nowait()
            await self.process(batch)
            if ended is not None and not isinstance(ended, Transient):
                raise ended
            if ended is not None:
                return False

    def _change_of(self, event: Event) -> Any:
        try:
            change = loads(event.data)
        except ValueError:
            raise Inconsistency(f"event {event.id} is not JSON").at(self.last + 1, None) from None
        if isinstance(change, dict) and event.id is not None and event.id != str(change.get("seq")):
            raise Inconsistency(f"event id {event.id} differs from its seq {change.get('seq')}").at(
                change.get("seq") if isinstance(change.get("seq"), int) else None, None
            )
        return change

    async def _caught_up(self) -> bool:
        """Nothing after the last seq in the feed now (the stream has simply nothing to send)."""
        page = await self.client.get_json("/v1/changes", self._params(since=str(self.last), limit="1"))
        return not _list(page, "results")

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    def result(self) -> FollowResult:
        checkpoint = self.state.checkpoint if self.state else None
        return FollowResult(self.last, self.written, checkpoint.size if checkpoint else None)


def _drop(task: asyncio.Task[Any] | None) -> None:
    """Give up a page read ahead (its failure, if it failed, is not the one to report)."""
    if task is None:
        return
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


def _batch(body: Any, indexes: list[int]) -> dict[int, list[bytes] | Inconsistency]:
    """The proofs of a ``GET /v1/log/proofs/inclusion`` answer, by index; a missing one is an inconsistency."""
    found: dict[int, list[bytes] | Inconsistency] = {
        i: Inconsistency(f"the repository gave no inclusion proof of log entry {i}") for i in indexes
    }
    for item in _list(body, "proofs"):
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(index, int) and index in found:
            try:
                found[index] = [b64decode(h, "an inclusion proof hash") for h in _list(item, "proof")]
            except Inconsistency as exc:
                found[index] = exc
    return found


def _list(body: Any, name: str) -> list[Any]:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, list):
        raise Inconsistency(f"the repository's answer has no {name} list")
    return value


def _normal(filters: FilterSet) -> dict[str, list[str]]:
    return {k: sorted(set(v)) for k, v in filters.items() if v}


def _describe(filters: FilterSet) -> str:
    normal = _normal(filters)
    return ", ".join(f"{k}={','.join(v)}" for k, v in normal.items()) if normal else "none"


async def follow(options: FollowOptions, progress: Progress = _ignore) -> FollowResult:
    """Follow the feed into ``options.out``; see the module documentation."""
    async with FeedClient(options.url, token=options.token, retry=options.retry) as client:
        client.on_retry.append(lambda why: progress(f"retrying: {why}"))
        follower = Follower(options, client, progress)
        try:
            await follower.open()
            if options.mode == "pull":
                await follower.pull()
            else:
                await follower.stream()
        finally:
            follower.close()
        return follower.result()
