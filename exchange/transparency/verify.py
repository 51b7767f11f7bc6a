"""Verifying the log's proofs, written from RFC 9162 alone.

This module deliberately shares no code with :mod:`exchange.transparency.merkle`: it is the check a
participant, mirror or auditor runs, and it would catch a mistake there rather than repeat it.

* :func:`verify_inclusion` follows RFC 9162 §2.1.3.2;
* :func:`verify_consistency` follows RFC 9162 §2.1.4.2.

Both return ``None`` on success and raise :class:`ProofError` otherwise. Beyond the RFC text they
reject, as the official transparency-dev vectors require: a leaf index not below the tree size, any hash
that is not 32 bytes, and a consistency proof from the empty tree (size 0), which proves nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["ProofError", "verify_consistency", "verify_inclusion"]

_HASH_SIZE = 32


class ProofError(ValueError):
    """A Merkle proof does not verify; the message says why."""


def _interior(left: bytes, right: bytes) -> bytes:
    """``HASH(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _require_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{name} must be a non-negative integer, not {value!r}")


def _require_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != _HASH_SIZE:
        length = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{name} must be a {_HASH_SIZE}-byte SHA-256 hash, got {length}")


def _require_hashes(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        _require_hash(f"proof element {position}", element)


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with root ``root``.

    ``leaf_hash`` is ``SHA-256(0x00 || entry)``; ``proof`` is the inclusion path, leaf to root.
    """
    _require_size("leaf index", index)
    _require_size("tree size", size)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    _require_hash("leaf hash", leaf_hash)
    _require_hash("root", root)
    _require_hashes(proof)

    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof has more elements than the tree size allows")
        if fn & 1 or fn == sn:
            r = _interior(p, r)
            while not fn & 1 and fn != 0:  # a right-edge node: climb to where it is a right child
                fn >>= 1
                sn >>= 1
        else:
            r = _interior(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is missing elements for this tree size")
    if r != root:
        raise ProofError("inclusion proof does not lead to the given root")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``new`` leaves (``new_root``) extends the tree of ``old`` leaves (``old_root``).

    Equal sizes need an empty proof and identical roots (nothing is hashed then, so the roots are only
    compared, as in the reference vectors).
    """
    _require_size("old tree size", old)
    _require_size("new tree size", new)
    if old == 0:
        raise ProofError("a consistency proof from the empty tree (size 0) is not accepted")
    if old > new:
        raise ProofError(f"old tree size {old} is larger than new tree size {new}")
    if old == new:
        if proof:
            raise ProofError("a consistency proof between equal tree sizes must be empty")
        if old_root != new_root:
            raise ProofError("different roots for the same tree size")
        return
    _require_hash("old root", old_root)
    _require_hash("new root", new_root)
    _require_hashes(proof)
    if not proof:
        raise ProofError("empty consistency proof between different tree sizes")

    path = list(proof)
    if old & (old - 1) == 0:  # old is an exact power of two: the old root is a node of the new tree
        path.insert(0, bytes(old_root))
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof has more elements than the tree sizes allow")
        if fn & 1 or fn == sn:
            fr = _interior(c, fr)
            sr = _interior(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _interior(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is missing elements for these tree sizes")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")
