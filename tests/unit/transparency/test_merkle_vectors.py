"""The official transparency-dev Merkle vectors, read from ../shared/vectors beside the checkout."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from exchange.transparency.merkle import MemoryNodeStore
from exchange.transparency.verify import ProofError, verify_consistency, verify_inclusion
from tests.support import reference_missing

ABSENT = "official vectors (../shared/vectors/merkle beside the checkout) are absent"

# The vectors' tree (transparency-dev/merkle testonly/constants.go LeafInputs), per the vectors README.
LEAF_INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
KNOWN_ROOTS = {
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def _merkle_vectors() -> Path | None:
    repo = Path(__file__).resolve().parents[3]
    for base in repo.parents:
        candidate = base / "shared" / "vectors" / "merkle" / "testdata"
        if candidate.is_dir():
            return candidate
    return None


def _cases(kind: str) -> list[Any]:
    root = _merkle_vectors()
    if root is None or not (root / kind).is_dir():
        return [pytest.param(None, id=f"{kind}-absent")]
    files = sorted((root / kind).rglob("*.json"))
    return [pytest.param(path, id=str(path.relative_to(root))) for path in files]


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b64(item) for item in value or []]


@pytest.fixture(scope="module")
def tree() -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.append([bytes.fromhex(leaf) for leaf in LEAF_INPUTS])
    return store


@pytest.mark.parametrize("path", _cases("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    if path is None:
        reference_missing(ABSENT)
    v = _load(path)
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v["proof"]), _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _cases("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    if path is None:
        reference_missing(ABSENT)
    v = _load(path)
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), _proof(v["proof"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vector_counts() -> None:
    root = _merkle_vectors()
    if root is None:
        reference_missing(ABSENT)
    assert len(list((root / "inclusion").rglob("*.json"))) == 98
    assert len(list((root / "consistency").rglob("*.json"))) == 98


def test_vector_tree_roots(tree: MemoryNodeStore) -> None:
    for size, root in KNOWN_ROOTS.items():
        assert tree.root(size).hex() == root


def test_generated_proofs_equal_the_vector_proofs(tree: MemoryNodeStore) -> None:
    root = _merkle_vectors()
    if root is None:
        reference_missing(ABSENT)
    compared = 0
    for path in sorted((root / "inclusion").rglob("*.json")):
        v = _load(path)
        index, size = v["leafIdx"], v["treeSize"]
        if v["wantErr"] or not 0 <= index < size <= tree.size:
            continue
        if _b64(v["root"]) != tree.root(size) or _b64(v["leafHash"]) != tree.get([(0, index)])[(0, index)]:
            continue
        assert tree.inclusion(index, size) == _proof(v["proof"]), path
        compared += 1
    for path in sorted((root / "consistency").rglob("*.json")):
        v = _load(path)
        old, new = v["size1"], v["size2"]
        if v["wantErr"] or not 0 < old <= new <= tree.size:
            continue
        if _b64(v["root1"]) != tree.root(old) or _b64(v["root2"]) != tree.root(new):
            continue
        assert tree.consistency(old, new) == _proof(v["proof"]), path
        compared += 1
    # happy paths of inclusion/0-4 and consistency/0-4 all describe this tree
    assert compared >= 10
