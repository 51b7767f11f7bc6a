"""The log's Merkle tree (RFC 9162 §2.1), computed from stored subtree hashes.

A node key ``(level, index)`` names the complete subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``: level 0 holds the leaf hashes. Complete subtrees never
change once the log has grown past them, so a storage adapter writes each node once and reads a handful
of them for any root or proof, at any historical tree size:

* :func:`nodes_for_append` gives the nodes to insert when leaves are appended (one batched read of the
  old tree's right edge);
* :func:`root_nodes`, :func:`inclusion_nodes` and :func:`consistency_nodes` name the node keys a root
  or proof needs, so an adapter fetches them in one query, and :func:`root_from`,
  :func:`inclusion_proof` and :func:`consistency_proof` assemble the RFC 9162 result from them.

A proof element that is not a complete subtree (on the right edge of a tree whose size is not a power
of two) is hashed from the complete subtrees it spans, which are part of the requested keys. Every
function reads O(log n) nodes and never rehashes the log.

Everything here is synchronous and storage-agnostic; :class:`MemoryNodeStore` is the in-memory store
used by tests and offline tools.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryNodeStore",
    "MissingNodeError",
    "Node",
    "NodeGetter",
    "NodeKey",
    "consistency_nodes",
    "consistency_proof",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_for_append",
    "root_from",
    "root_nodes",
]

HASH_SIZE = 32

NodeKey = tuple[int, int]
"""``(level, index)`` of a complete subtree."""

Node = tuple[int, int, bytes]
"""``(level, index, hash)`` of a complete subtree, as stored."""

NodeGetter = Callable[[Iterable[NodeKey]], Mapping[NodeKey, bytes]]
"""Reads stored nodes: given keys, returns the hashes it holds for them (missing keys are left out)."""

_Range = tuple[int, int]


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``: the hash of one log entry."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree, ``SHA-256("")``."""


class MissingNodeError(LookupError):
    """A node the computation needs is not in storage: the store does not hold that tree size."""


# ---- tree geometry ----------------------------------------------------------------------------------


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``), where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_keys(lo: int, hi: int) -> list[NodeKey]:
    """The complete subtrees, largest first, that make up the subtree over leaves ``[lo, hi)``.

    ``[lo, hi)`` is a subtree of the RFC 9162 recursion, so ``lo`` is aligned to the power of two at
    or above ``hi - lo`` and the range splits into aligned complete subtrees of decreasing size.
    """
    keys: list[NodeKey] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo & ((1 << level) - 1):
            raise AssertionError(f"leaf range [{lo}, {hi}) is not a subtree")  # pragma: no cover
        keys.append((level, lo >> level))
        lo += 1 << level
    return keys


def _inclusion_ranges(index: int, size: int) -> list[_Range]:
    """Leaf ranges of the RFC 9162 inclusion path (``PATH(m, D[n])``), from the leaf up."""
    ranges: list[_Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old: int, new: int) -> list[_Range]:
    """Leaf ranges of the RFC 9162 consistency proof (``PROOF(m, D[n])``), in proof order."""
    ranges: list[_Range] = []
    lo, hi = 0, new
    whole_old_tree = True  # the SUBPROOF flag ``b``: the old tree is this subtree, known to the verifier
    # Invariant: lo < old <= hi.
    while old != hi:
        k = _split(hi - lo)
        if old <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _keys_of(ranges: Iterable[_Range]) -> list[NodeKey]:
    seen: dict[NodeKey, None] = {}
    for lo, hi in ranges:
        for key in _range_keys(lo, hi):
            seen[key] = None
    return list(seen)


def _lookup(nodes: Mapping[NodeKey, bytes], key: NodeKey) -> bytes:
    try:
        value = nodes[key]
    except KeyError:
        raise MissingNodeError(f"tree node (level {key[0]}, index {key[1]}) is not stored") from None
    if len(value) != HASH_SIZE:
        raise MissingNodeError(f"tree node (level {key[0]}, index {key[1]}) is not a {HASH_SIZE}-byte hash")
    return value


def _range_hash(lo: int, hi: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """RFC 9162 ``MTH(D[lo:hi])`` from the complete subtrees it spans (folded from the right)."""
    keys = _range_keys(lo, hi)
    result = _lookup(nodes, keys[-1])
    for key in reversed(keys[:-1]):
        result = node_hash(_lookup(nodes, key), result)
    return result


# ---- roots and proofs -------------------------------------------------------------------------------


def root_nodes(size: int) -> list[NodeKey]:
    """Node keys needed for the root of the tree of ``size`` leaves (one per set bit of ``size``)."""
    _check_size("size", size)
    return _range_keys(0, size)


def root_from(size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """The root of the tree of ``size`` leaves, from the nodes named by :func:`root_nodes`."""
    _check_size("size", size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, nodes)


def _check_index(index: int, size: int) -> None:
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ValueError(f"leaf index {index} is not below tree size {size}")


def inclusion_nodes(index: int, size: int) -> list[NodeKey]:
    """Node keys needed for the inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    _check_index(index, size)
    return _keys_of(_inclusion_ranges(index, size))


def inclusion_proof(index: int, size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """The RFC 9162 inclusion proof (audit path, leaf to root), from the nodes of :func:`inclusion_nodes`."""
    _check_index(index, size)
    return [_range_hash(lo, hi, nodes) for lo, hi in _inclusion_ranges(index, size)]


def _check_sizes(old: int, new: int) -> None:
    _check_size("old size", old)
    _check_size("new size", new)
    if old == 0:
        raise ValueError("a consistency proof needs an old tree size of at least 1")
    if old > new:
        raise ValueError(f"old tree size {old} is larger than new tree size {new}")


def consistency_nodes(old: int, new: int) -> list[NodeKey]:
    """Node keys needed for the consistency proof from size ``old`` to size ``new`` (``1 <= old <= new``)."""
    _check_sizes(old, new)
    return _keys_of(_consistency_ranges(old, new))


def consistency_proof(old: int, new: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """The RFC 9162 consistency proof from ``old`` to ``new`` leaves (empty when the sizes are equal)."""
    _check_sizes(old, new)
    return [_range_hash(lo, hi, nodes) for lo, hi in _consistency_ranges(old, new)]


# ---- appending --------------------------------------------------------------------------------------


def _edge_keys(start: int, end: int) -> list[NodeKey]:
    """Stored nodes of the tree of ``start`` leaves that become left children of new nodes."""
    keys: list[NodeKey] = []
    level = 1
    while (end >> level) > (start >> level):  # a node at this level is completed by the append
        if (start >> (level - 1)) & 1:
            keys.append((level - 1, (start >> (level - 1)) - 1))
        level += 1
    return keys


def nodes_for_append(start: int, leaf_hashes: Sequence[bytes], get: NodeGetter) -> list[Node]:
    """The nodes to store when ``leaf_hashes`` are appended to the tree of ``start`` leaves.

    Returns every complete subtree ``(level, index, hash)`` that the append completes, level-0 leaves
    included, ordered by level then index. ``get`` is called at most once, with the few stored nodes on
    the old tree's right edge that become left children of new nodes (at most one per level).
    """
    _check_size("start", start)
    for position, value in enumerate(leaf_hashes):
        if len(value) != HASH_SIZE:
            raise ValueError(f"leaf hash {position} is {len(value)} bytes, not {HASH_SIZE}")
    if not leaf_hashes:
        return []
    end = start + len(leaf_hashes)
    edge_keys = _edge_keys(start, end)
    edge = dict(get(edge_keys)) if edge_keys else {}

    out: list[Node] = [(0, start + offset, bytes(value)) for offset, value in enumerate(leaf_hashes)]
    first = start  # index of the first new node at the current level
    current = [value for _, _, value in out]
    level = 0
    while True:
        parent_first, parent_end = start >> (level + 1), end >> (level + 1)
        if parent_end <= parent_first:
            break
        if first & 1:  # the first new node is a right child: its sibling is stored
            current = [_lookup(edge, (level, first - 1)), *current]
            first -= 1
        parents = [node_hash(current[2 * i], current[2 * i + 1]) for i in range(parent_end - parent_first)]
        level += 1
        out.extend((level, parent_first + i, value) for i, value in enumerate(parents))
        first, current = parent_first, parents
    return out


# ---- in-memory store --------------------------------------------------------------------------------


class MemoryNodeStore:
    """An in-memory log tree: the node store for tests and offline tools (``exchange verify``).

    Nodes are kept per level in one contiguous buffer (the tree is dense and append-only), so a tree of
    millions of leaves costs about 64 bytes per leaf.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = []
        self._size = 0

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def get(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored hashes for ``keys`` (missing keys are left out): a :data:`NodeGetter`."""
        found: dict[NodeKey, bytes] = {}
        for level, index in keys:
            if 0 <= level < len(self._levels) and index >= 0:
                buffer = self._levels[level]
                offset = index * HASH_SIZE
                if offset + HASH_SIZE <= len(buffer):
                    found[(level, index)] = bytes(buffer[offset : offset + HASH_SIZE])
        return found

    def put(self, nodes: Iterable[Node]) -> None:
        """Store nodes in order: each must extend its level (or repeat a stored node exactly)."""
        for level, index, value in nodes:
            while len(self._levels) <= level:
                self._levels.append(bytearray())
            buffer = self._levels[level]
            count = len(buffer) // HASH_SIZE
            if index == count:
                buffer += value
            elif index > count or buffer[index * HASH_SIZE : (index + 1) * HASH_SIZE] != value:
                raise ValueError(f"tree node (level {level}, index {index}) does not extend the tree")

    def append(self, entries: Iterable[bytes]) -> int:
        """Append log entries (hashing each as a leaf); return the new tree size."""
        return self.append_leaf_hashes([leaf_hash(entry) for entry in entries])

    def append_leaf_hashes(self, leaf_hashes: Sequence[bytes]) -> int:
        """Append leaves given by their leaf hashes; return the new tree size."""
        self.put(nodes_for_append(self._size, leaf_hashes, self.get))
        self._size += len(leaf_hashes)
        return self._size

    def _within(self, size: int) -> None:
        if size > self._size:
            raise ValueError(f"tree size {size} is beyond the {self._size} leaves stored")

    def root(self, size: int | None = None) -> bytes:
        """The root at ``size`` leaves (default: the whole tree)."""
        size = self._size if size is None else size
        self._within(size)
        return root_from(size, self.get(root_nodes(size)))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        self._within(size)
        return inclusion_proof(index, size, self.get(inclusion_nodes(index, size)))

    def consistency(self, old: int, new: int) -> list[bytes]:
        """The consistency proof from ``old`` to ``new`` leaves."""
        self._within(new)
        return consistency_proof(old, new, self.get(consistency_nodes(old, new)))
