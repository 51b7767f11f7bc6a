"""The transparency log as a service: checkpoints, proofs and receipts over the repository's nodes.

Every proof is assembled from stored subtree hashes (O(log n) node reads, one query), never by
rehashing the log. A checkpoint is signed when the log has grown since the last one, by the
checkpointer loop or on demand when a receipt needs one; signing is deterministic (Ed25519), so two
processes that sign the same size produce the same note.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from exchange import times
from exchange.errors import ErrorItem, ExchangeError, Problems, Unavailable
from exchange.models import StoredCheckpoint, SubmissionState
from exchange.repository.port import Log
from exchange.transparency import merkle
from exchange.transparency.note import NoteSigner, checkpoint_body, sign_many


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _invalid(name: str, message: str) -> ExchangeError:
    return ExchangeError(Problems.INVALID_REQUEST, message, errors=[ErrorItem(f"?{name}", "range", message)])


#: Reads the witnesses' cosignature lines kept for checkpoints of the given sizes.
CosignatureReader = Callable[[Sequence[int]], Awaitable[dict[int, list[str]]]]


@dataclass
class TransparencyLog:
    repository: Log
    signers: list[NoteSigner]
    cosignatures: CosignatureReader | None = None
    #: False on a mirror: its checkpoints are the upstream's, stored with the entries they cover
    signing: bool = True

    @property
    def origin(self) -> str:
        return self.signers[0].name

    @property
    def verifier_keys(self) -> list[str]:
        return [s.verifier_key for s in self.signers]

    async def checkpoint(self) -> StoredCheckpoint:
        """The newest checkpoint, signing a new one first when the log has grown."""
        latest = await self.repository.latest_checkpoint()
        if not self.signing:
            if latest is None:
                raise Unavailable("this mirror holds no checkpoint of its upstream yet", retry_after=5)
            return latest
        size = await self.repository.log_size()
        if latest is not None and latest.size >= size:
            return latest
        root = await self.repository.log_root(size)
        note = sign_many(checkpoint_body(self.origin, size, root), self.signers)
        fresh = StoredCheckpoint(size, root, note, times.iso(times.now()))
        await self.repository.add_checkpoint(fresh)
        return fresh

    async def served(self, checkpoints: Sequence[StoredCheckpoint]) -> list[str]:
        """Each checkpoint's note with the witnesses' cosignature lines collected for it appended.

        The lines are signatures over the same body, so the note stays one valid signed note that any
        verifier reads with the log's key alone, and a client that requires witnesses finds them there.
        """
        if self.cosignatures is None or not checkpoints:
            return [c.note for c in checkpoints]
        lines = await self.cosignatures([c.size for c in checkpoints])
        return [c.note + "".join(lines.get(c.size, ())) for c in checkpoints]

    async def served_checkpoint(self) -> str:
        """The newest checkpoint (signed first when the log has grown), with its cosignatures."""
        return (await self.served([await self.checkpoint()]))[0]

    async def inclusion(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise _invalid("index", f"index must lie in [0, size); got index {index}, size {size}")
        await self._within(size, "size")
        nodes = await self.repository.log_nodes(merkle.inclusion_nodes(index, size))
        return merkle.inclusion_proof(index, size, nodes)

    async def inclusions(self, indexes: Sequence[int], size: int) -> list[list[bytes]]:
        """The inclusion proofs of many entries in one tree, from one read of the stored nodes."""
        for index in indexes:
            if not 0 <= index < size:
                raise _invalid("index", f"every index must lie in [0, size); got index {index}, size {size}")
        await self._within(size, "size")
        wanted = {key: None for index in indexes for key in merkle.inclusion_nodes(index, size)}
        nodes = await self.repository.log_nodes(list(wanted))
        return [merkle.inclusion_proof(index, size, nodes) for index in indexes]

    async def consistency(self, old: int, new: int) -> list[bytes]:
        if not 0 < old <= new:
            raise _invalid("old", f"consistency needs 0 < old <= new; got old {old}, new {new}")
        await self._within(new, "new")
        nodes = await self.repository.log_nodes(merkle.consistency_nodes(old, new))
        return merkle.consistency_proof(old, new, nodes)

    async def _within(self, size: int, name: str) -> None:
        current = await self.repository.log_size()
        if size > current:
            raise _invalid(name, f"{name} {size} is beyond the log's size {current}")

    async def entry(self, index: int) -> bytes:
        rows = await self.repository.log_entries(index, index + 1)
        if not rows:
            raise ExchangeError(Problems.NOT_FOUND, f"the log has no entry {index}")
        return rows[0][1]

    async def receipt(self, state: SubmissionState) -> dict[str, Any]:
        """``{log_index, entry, inclusion_proof, checkpoint}``: verifiable offline with the log's key."""
        if state.log_index is None:
            raise ExchangeError(
                Problems.NOT_FOUND,
                "the submission is not decided yet; its receipt follows its verdict",
                headers={"Retry-After": "1"},
            )
        checkpoint = await self.checkpoint()
        proof = await self.inclusion(state.log_index, checkpoint.size)
        return {
            "log_index": state.log_index,
            "entry": b64(await self.entry(state.log_index)),
            "inclusion_proof": [b64(h) for h in proof],
            "checkpoint": (await self.served([checkpoint]))[0],
        }
