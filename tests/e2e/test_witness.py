"""The witness endpoint (C2SP tlog-witness add-checkpoint) over HTTP, on both backend stacks."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.transparency.cosignature import check_quorum
from exchange.transparency.merkle import MemoryNodeStore
from exchange.transparency.note import NoteSigner, checkpoint_body, verify_note
from tests.e2e.conftest import Service

ORIGIN = "other-repository.test"
LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
IMPOSTOR = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34))))
STRANGER = NoteSigner("stranger.test", Ed25519PrivateKey.from_private_bytes(bytes(range(3, 35))))

pytestmark = pytest.mark.settings(witness_logs=(LOG.verifier_key,))


class OtherLog:
    """A log of another repository, grown here entry by entry."""

    def __init__(self, size: int = 0, signer: NoteSigner = LOG) -> None:
        self.tree = MemoryNodeStore()
        self.signer = signer
        self.grow(size)

    def grow(self, count: int, tag: str = "") -> None:
        start = self.tree.size
        self.tree.append([f"entry {start + i}{tag}".encode() for i in range(count)])

    def note(self, size: int | None = None, signer: NoteSigner | None = None) -> str:
        size = self.tree.size if size is None else size
        return (signer or self.signer).sign(checkpoint_body(ORIGIN, size, self.tree.root(size)))

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.tree.size if new is None else new
        return [] if old == 0 else self.tree.consistency(old, new)


def body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}"] + [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n" + note).encode()


async def add(service: Service, payload: bytes) -> tuple[int, str, str]:
    response = await service.client.post("/witness/add-checkpoint", data=payload)
    return response.status, response.content_type, await response.text()


async def witness_vkey(service: Service) -> str:
    info = await (await service.client.get("/v1/info")).json()
    return str(info["witness"]["verifier_key"])


async def test_info_publishes_the_witness(service: Service) -> None:
    info: dict[str, Any] = await (await service.client.get("/v1/info")).json()
    witness = info["witness"]
    assert witness["name"] == "repository.test/witness"
    assert witness["verifier_key"].startswith("repository.test/witness+")
    assert witness["logs"] == [ORIGIN] and witness["add_checkpoint"] == "/witness/add-checkpoint"
    assert witness["verifier_key"] != info["log_verifier_key"]


async def test_cosigns_the_first_and_then_consistent_checkpoints(service: Service) -> None:
    log = OtherLog(5)
    status, media_type, lines = await add(service, body(0, [], log.note()))
    assert (status, media_type) == (200, "text/plain"), lines
    vkey = await witness_vkey(service)
    cosigned = log.note() + lines
    assert [c.name for c in check_quorum(cosigned, [vkey], 1)] == ["repository.test/witness"]
    verify_note(cosigned, LOG.verifier_key)  # the log's own signature still verifies

    log.grow(7)
    status, _, lines = await add(service, body(5, log.proof(5), log.note()))
    assert status == 200, lines
    check_quorum(log.note() + lines, [vkey], 1)
    # The same checkpoint again is consistent with itself: cosigned again.
    status, _, lines = await add(service, body(12, [], log.note()))
    assert status == 200, lines


async def test_the_size_last_cosigned_comes_back_as_a_409(service: Service) -> None:
    log = OtherLog(5)
    assert (await add(service, body(0, [], log.note())))[0] == 200
    log.grow(3)
    assert await add(service, body(0, [], log.note())) == (409, "text/x.tlog.size", "5\n")
    assert await add(service, body(4, log.proof(4), log.note())) == (409, "text/x.tlog.size", "5\n")


async def test_unknown_origin_is_404(service: Service) -> None:
    status, media_type, text = await add(
        service, body(0, [], STRANGER.sign(checkpoint_body("stranger.test", 1, bytes(32))))
    )
    assert (status, media_type) == (404, "application/problem+json"), text
    assert "stranger.test" in text


async def test_no_trusted_signature_is_403(service: Service) -> None:
    log = OtherLog(3)
    status, _, text = await add(service, body(0, [], log.note(signer=IMPOSTOR)))
    assert status == 403, text
    # A valid signature beside an invalid one by a key the witness does not know is enough.
    assert (await add(service, body(0, [], log.note() + STRANGER.signature_line(log.note().split("\n\n")[0] + "\n"))))[
        0
    ] == 200


async def test_old_size_above_the_checkpoint_is_400(service: Service) -> None:
    log = OtherLog(3)
    status, _, text = await add(service, body(4, [], log.note()))
    assert status == 400 and "larger" in text, text


async def test_bad_consistency_proof_is_422(service: Service) -> None:
    log = OtherLog(4)
    assert (await add(service, body(0, [], log.note())))[0] == 200
    log.grow(4)
    proof = log.proof(4)
    proof[0] = bytes(32)
    status, _, text = await add(service, body(4, proof, log.note()))
    assert status == 422, text
    # A log that rewrote its history cannot prove consistency either.
    forked = OtherLog(4)
    forked.tree = MemoryNodeStore()
    forked.tree.append([f"rewritten {i}".encode() for i in range(8)])
    assert (await add(service, body(4, forked.proof(4), forked.note())))[0] == 422
    # Nothing was recorded: the honest extension is still accepted from 4.
    assert (await add(service, body(4, log.proof(4), log.note())))[0] == 200


async def test_split_view_is_refused_with_409(service: Service) -> None:
    log = OtherLog(6)
    assert (await add(service, body(0, [], log.note())))[0] == 200
    other = OtherLog(0)
    other.grow(6, tag=" (another view)")
    status, media_type, text = await add(service, body(6, [], other.note()))
    assert (status, media_type) == (409, "application/problem+json"), text
    assert "split view" in text


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"old 0\n",
        b"old 0\n\n",
        b"old 01\n\nx\n",
        b"old -1\n\nx\n",
        b"old 99999999999999999999999\n\nx\n",
        b"new 0\n\nx\n",
        b"old 0\nnot base64!\n\nx\n",
        b"old 0\nAAAA\n\nx\n",
        b"old 0\n\n\xff\xfe\n",
        b"old 0\n\nother-repository.test\n5\n",
        b"old 0\n\nother-repository.test\nfive\nAAAA\n\n\xe2\x80\x94 x AAAA\n",
        ("old 1\n" + ("A" * 43 + "=\n") * 64 + "\n").encode() + b"x\n",
    ],
    ids=lambda p: repr(p[:24]),
)
async def test_malformed_bodies_are_400(service: Service, payload: bytes) -> None:
    status, media_type, text = await add(service, payload)
    assert (status, media_type) == (400, "application/problem+json"), text


async def test_a_tree_size_beyond_64_bits_is_400(service: Service) -> None:
    note = LOG.sign(checkpoint_body(ORIGIN, 1 << 64, bytes(32)))
    status, _, text = await add(service, body(0, [], note))
    assert status == 400 and "tree size" in text, text


async def test_a_proof_with_old_size_zero_is_400(service: Service) -> None:
    log = OtherLog(4)
    assert (await add(service, body(0, [bytes(32)], log.note())))[0] == 400


async def test_an_oversized_body_is_413(service: Service) -> None:
    status, _, _ = await add(service, b"old 0\n\n" + b"x" * 70_000)
    assert status == 413


async def test_concurrent_requests_cannot_both_advance(service: Service) -> None:
    log = OtherLog(5)
    assert (await add(service, body(0, [], log.note())))[0] == 200
    log.grow(5)
    requests = {8: body(5, log.proof(5, 8), log.note(8)), 10: body(5, log.proof(5, 10), log.note(10))}
    results = dict(zip(requests, await asyncio.gather(*(add(service, b) for b in requests.values())), strict=True))
    winners = [size for size, (status, _, _) in results.items() if status == 200]
    assert len(winners) == 1, results
    (loser,) = (r for size, r in results.items() if size not in winners)
    assert loser == (409, "text/x.tlog.size", f"{winners[0]}\n")
    # The winner's state holds: the next checkpoint must start from it.
    assert (await add(service, body(winners[0], log.proof(winners[0], 10), log.note(10))))[0] == 200
