"""The log tree: roots and proofs from stored subtree hashes, checked against RFC 9162 and a 2nd verifier."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

from exchange.transparency import merkle, verify
from exchange.transparency.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MissingNodeError,
    Node,
    NodeKey,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_append,
    root_from,
    root_nodes,
)
from tests.support import reference_missing

MAX_SIZE = 70
ENTRIES = [f"entry {i}".encode() for i in range(MAX_SIZE)]


# ---- an independent transcription of RFC 9162 §2.1.1–2.1.2 (recursive, rehashes everything) -----------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + _mth(d[:k]) + _mth(d[k:])).digest()


def _path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [_mth(d)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


# ---- helpers ------------------------------------------------------------------------------------------


def _interop() -> ModuleType | None:
    path = Path(__file__).resolve().parents[3].parent / "shared" / "interop" / "rfc9162.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("interop_rfc9162", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rfc9162() -> ModuleType:
    module = _interop()
    if module is None:
        reference_missing("the independent verifier ../shared/interop/rfc9162.py")
    return module


@pytest.fixture(scope="module")
def store() -> MemoryNodeStore:
    tree = MemoryNodeStore()
    tree.append(ENTRIES)
    return tree


class CountingStore(MemoryNodeStore):
    """A memory store that records every read: how many calls, how many keys each."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []

    def get(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        wanted = list(keys)
        self.reads.append(len(wanted))
        return super().get(wanted)


def _log2_ceil(n: int) -> int:
    return max(1, (n - 1).bit_length())


# ---- hashes and roots ---------------------------------------------------------------------------------


def test_hash_functions_follow_rfc9162() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()


def test_roots_match_the_rfc_definition_for_every_size(store: MemoryNodeStore) -> None:
    for size in range(MAX_SIZE + 1):
        assert store.root(size) == _mth(ENTRIES[:size]), size
    assert store.root() == _mth(ENTRIES)
    assert MemoryNodeStore().root() == EMPTY_ROOT
    assert root_nodes(0) == []
    assert root_from(0, {}) == EMPTY_ROOT


def test_root_needs_one_node_per_set_bit() -> None:
    for size in (1, 2, 3, 7, 8, 1000, 10_000_000):
        assert len(root_nodes(size)) == bin(size).count("1")
    assert root_nodes(7) == [(2, 0), (1, 2), (0, 6)]


# ---- proofs -------------------------------------------------------------------------------------------


def test_inclusion_proofs_equal_the_rfc_path_and_verify(store: MemoryNodeStore) -> None:
    for size in range(1, MAX_SIZE + 1):
        root = store.root(size)
        for index in range(size):
            proof = store.inclusion(index, size)
            assert proof == _path(index, ENTRIES[:size]), (index, size)
            verify.verify_inclusion(index, size, leaf_hash(ENTRIES[index]), proof, root)


def test_consistency_proofs_equal_the_rfc_proof_and_verify(store: MemoryNodeStore) -> None:
    for new in range(1, MAX_SIZE + 1):
        new_root = store.root(new)
        for old in range(1, new + 1):
            proof = store.consistency(old, new)
            assert proof == _subproof(old, ENTRIES[:new], True), (old, new)
            verify.verify_consistency(old, new, store.root(old), new_root, proof)


def test_proofs_verify_with_the_independent_verifier(store: MemoryNodeStore, rfc9162: ModuleType) -> None:
    for size in range(1, MAX_SIZE + 1):
        root = store.root(size)
        assert rfc9162.root_of(ENTRIES[:size]) == root
        for index in range(size):
            rfc9162.verify_inclusion(index, size, leaf_hash(ENTRIES[index]), store.inclusion(index, size), root)
        for old in range(1, size + 1):
            rfc9162.verify_consistency(old, size, store.root(old), root, store.consistency(old, size))


def test_wrong_proofs_do_not_verify(store: MemoryNodeStore) -> None:
    proof = store.inclusion(5, 13)
    with pytest.raises(verify.ProofError):
        verify.verify_inclusion(6, 13, leaf_hash(ENTRIES[5]), proof, store.root(13))
    with pytest.raises(verify.ProofError):
        verify.verify_inclusion(5, 13, leaf_hash(ENTRIES[5]), proof[:-1], store.root(13))
    with pytest.raises(verify.ProofError):
        verify.verify_inclusion(5, 13, leaf_hash(ENTRIES[5]), [*proof, proof[0]], store.root(13))
    consistency = store.consistency(5, 13)
    with pytest.raises(verify.ProofError):
        verify.verify_consistency(5, 13, store.root(6), store.root(13), consistency)
    with pytest.raises(verify.ProofError):
        verify.verify_consistency(5, 13, store.root(5), store.root(13), consistency[1:])


def test_proof_arguments_are_checked(store: MemoryNodeStore) -> None:
    with pytest.raises(ValueError, match="not below tree size"):
        inclusion_nodes(3, 3)
    with pytest.raises(ValueError, match="non-negative"):
        inclusion_nodes(-1, 3)
    with pytest.raises(ValueError, match="at least 1"):
        consistency_nodes(0, 3)
    with pytest.raises(ValueError, match="larger than"):
        consistency_nodes(4, 3)
    with pytest.raises(ValueError, match="beyond"):
        store.inclusion(0, MAX_SIZE + 1)
    with pytest.raises(ValueError, match="beyond"):
        store.root(MAX_SIZE + 1)
    assert consistency_nodes(5, 5) == []
    assert consistency_proof(5, 5, {}) == []


def test_missing_nodes_are_reported() -> None:
    with pytest.raises(MissingNodeError, match="level 0, index 2"):
        inclusion_proof(0, 3, {(0, 1): b"x" * 32})
    with pytest.raises(MissingNodeError):
        root_from(4, {(2, 0): b"short"})
    with pytest.raises(MissingNodeError):
        nodes_for_append(3, [b"\x00" * 32], lambda keys: {})


# ---- appending ----------------------------------------------------------------------------------------


def _all_nodes(store: MemoryNodeStore) -> dict[NodeKey, bytes]:
    keys = [(level, index) for level in range(8) for index in range(MAX_SIZE >> level)]
    return store.get(keys)


def test_append_matches_the_rfc_subtrees(store: MemoryNodeStore) -> None:
    nodes = _all_nodes(store)
    assert len(nodes) == sum(MAX_SIZE >> level for level in range(8))
    for (level, index), value in nodes.items():
        assert value == _mth(ENTRIES[index << level : (index + 1) << level]), (level, index)


def test_random_batch_splits_store_the_same_nodes_as_single_appends(store: MemoryNodeStore) -> None:
    expected = _all_nodes(store)
    one_by_one = MemoryNodeStore()
    for entry in ENTRIES:
        one_by_one.append([entry])
    assert _all_nodes(one_by_one) == expected
    rng = random.Random(9162)
    for _ in range(40):
        batched = MemoryNodeStore()
        position = 0
        while position < MAX_SIZE:
            step = rng.randint(1, 17)
            batched.append(ENTRIES[position : position + step])
            position = batched.size
        assert _all_nodes(batched) == expected


def test_nodes_for_append_returns_each_completed_subtree_once() -> None:
    stored: dict[NodeKey, bytes] = {}
    hashes = [leaf_hash(entry) for entry in ENTRIES]
    size = 0
    for step in (1, 2, 5, 3, 16, 1, 30, 12):
        nodes = nodes_for_append(size, hashes[size : size + step], lambda keys: {k: stored[k] for k in keys})
        keys = [(level, index) for level, index, _ in nodes]
        assert keys == sorted(keys)
        assert not set(keys) & set(stored)
        for level, index, value in nodes:
            assert (index + 1) << level <= size + step  # complete after the append
            assert (index + 1) << level > size  # and not before it
            stored[(level, index)] = value
        size += step
    assert size == MAX_SIZE
    assert root_from(size, stored) == _mth(ENTRIES)
    assert nodes_for_append(size, [], lambda keys: pytest.fail("no read for an empty append")) == []


def test_append_rejects_malformed_leaf_hashes() -> None:
    with pytest.raises(ValueError, match="leaf hash 1"):
        nodes_for_append(0, [b"\x00" * 32, b"short"], lambda keys: {})


def test_store_refuses_nodes_that_do_not_extend_the_tree() -> None:
    tree = MemoryNodeStore()
    tree.append([b"a", b"b"])
    tree.put([(0, 1, leaf_hash(b"b"))])  # repeating a stored node is harmless
    with pytest.raises(ValueError, match="does not extend"):
        tree.put([(0, 1, leaf_hash(b"c"))])
    with pytest.raises(ValueError, match="does not extend"):
        tree.put([(0, 5, leaf_hash(b"c"))])


def test_reads_per_append_are_one_call_of_at_most_log_n_keys() -> None:
    tree = CountingStore()
    rng = random.Random(6962)
    while tree.size < 5000:
        before = tree.size
        tree.reads.clear()
        tree.append_leaf_hashes([hashlib.sha256(str(before + i).encode()).digest() for i in range(rng.randint(1, 40))])
        assert len(tree.reads) <= 1
        assert sum(tree.reads) <= _log2_ceil(tree.size), (before, tree.size, tree.reads)


def test_reads_per_proof_are_one_call_of_at_most_2_log_n_keys() -> None:
    tree = CountingStore()
    tree.append(ENTRIES)
    for size in range(1, MAX_SIZE + 1):
        bound = 2 * _log2_ceil(size)
        for index in range(size):
            tree.reads.clear()
            tree.inclusion(index, size)
            assert len(tree.reads) == 1
            assert tree.reads[0] <= bound, (index, size, tree.reads)
        for old in range(1, size + 1):
            tree.reads.clear()
            tree.consistency(old, size)
            assert len(tree.reads) == 1
            assert tree.reads[0] <= bound, (old, size, tree.reads)
        tree.reads.clear()
        tree.root(size)
        assert tree.reads == [bin(size).count("1")]


# ---- a large tree -------------------------------------------------------------------------------------

MILLION = 1_000_000


@pytest.fixture(scope="module")
def million() -> MemoryNodeStore:
    tree = MemoryNodeStore()
    batch = 1 << 16
    for start in range(0, MILLION, batch):
        stop = min(start + batch, MILLION)
        tree.append_leaf_hashes([hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(start, stop)])
    return tree


class _Recorder(Mapping[NodeKey, bytes]):
    """Wraps fetched nodes and records which were used."""

    def __init__(self, nodes: Mapping[NodeKey, bytes]) -> None:
        self.nodes = nodes
        self.used: set[NodeKey] = set()

    def __getitem__(self, key: NodeKey) -> bytes:
        self.used.add(key)
        return self.nodes[key]

    def __iter__(self) -> Iterator[NodeKey]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)


def test_proofs_in_a_million_leaf_tree_read_few_nodes(million: MemoryNodeStore) -> None:
    size = million.size
    assert size == MILLION
    bound = 2 * math.log2(size)
    root = million.root()
    rng = random.Random(1)
    for index in [0, 1, size // 2, size - 2, size - 1, *(rng.randrange(size) for _ in range(50))]:
        keys = inclusion_nodes(index, size)
        assert len(keys) <= bound, (index, len(keys))
        fetched = _Recorder(million.get(keys))
        proof = inclusion_proof(index, size, fetched)
        assert fetched.used == set(keys)  # every requested key is needed, none is missing
        leaf = hashlib.sha256(index.to_bytes(8, "big")).digest()
        verify.verify_inclusion(index, size, leaf, proof, root)
    for old in [1, 2, 3, 65_536, 524_287, 999_999, *(rng.randrange(1, size) for _ in range(50))]:
        keys = consistency_nodes(old, size)
        assert len(keys) <= bound, (old, len(keys))
        proof = consistency_proof(old, size, million.get(keys))
        verify.verify_consistency(old, size, million.root(old), root, proof)


def test_node_keys_stay_logarithmic_for_ten_million_leaves() -> None:
    size = 10_000_000
    bound = 2 * math.log2(size)
    rng = random.Random(2)
    for _ in range(2000):
        assert len(inclusion_nodes(rng.randrange(size), size)) <= bound
        assert len(consistency_nodes(rng.randrange(1, size), size)) <= bound


def test_nodes_listing_is_typed_as_node_tuples() -> None:
    nodes: list[Node] = nodes_for_append(0, [leaf_hash(b"x")], lambda keys: {})
    assert nodes == [(0, 0, leaf_hash(b"x"))]
    assert merkle.HASH_SIZE == 32
