"""Canonical JSON (RFC 8785) and the exact bytes of log entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from exchange.transparency.entries import (
    CanonicalJSONError,
    EntryError,
    canonical,
    key_entry,
    submission_entry,
)
from tests.support import reference_missing

ABSENT = "JCS vectors (../shared/vectors/jcs beside the checkout) are absent"
JWS_SHA = "a" * 64
PAYLOAD_SHA = "0123456789abcdef" * 4


def _jcs_vectors() -> Path | None:
    repo = Path(__file__).resolve().parents[3]
    for base in repo.parents:
        candidate = base / "shared" / "vectors" / "jcs" / "testdata"
        if candidate.is_dir():
            return candidate
    return None


def _cases() -> list[Any]:
    root = _jcs_vectors()
    if root is None:
        return [pytest.param(None, id="jcs-absent")]
    return [pytest.param(path, id=path.stem) for path in sorted((root / "input").glob("*.json"))]


@pytest.mark.parametrize("path", _cases())
def test_jcs_vector(path: Path | None) -> None:
    if path is None:
        reference_missing(ABSENT)
    root = path.parent.parent
    expected = (root / "output" / path.name).read_bytes()
    result = canonical(json.loads(path.read_text(encoding="utf-8")))
    assert result == expected
    outhex = root / "outhex" / f"{path.stem}.txt"
    if outhex.is_file():
        assert result == bytes.fromhex(outhex.read_text(encoding="ascii"))


def test_jcs_vectors_are_all_there() -> None:
    root = _jcs_vectors()
    if root is None:
        reference_missing(ABSENT)
    assert len(list((root / "input").glob("*.json"))) == 6


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**20, [1, {"n": 2**60}]])
def test_integers_beyond_the_safe_range_are_refused(value: object) -> None:
    with pytest.raises(CanonicalJSONError, match="2\\^53"):
        canonical(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), {"x": [float("nan")]}])
def test_nan_and_infinity_are_refused(value: object) -> None:
    with pytest.raises(CanonicalJSONError, match="NaN"):
        canonical(value)


@pytest.mark.parametrize("value", [{1: "x"}, b"bytes", {"s": {1, 2}}, "\ud800"])
def test_values_without_json_form_are_refused(value: object) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical(value)


def test_safe_integers_and_nested_values() -> None:
    assert (
        canonical({"b": [2**53 - 1, -(2**53 - 1)], "a": None}) == b'{"a":null,"b":[9007199254740991,-9007199254740991]}'
    )
    assert canonical({"é": "\u20ac", "e": 1.0}) == '{"e":1,"é":"€"}'.encode()


# ---- submission entries -------------------------------------------------------------------------------


def _submission(**changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "index": 4711,
        "submission_id": "0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10",
        "participant": "EST",
        "kid": "EST/2026-01",
        "jws_sha256": JWS_SHA,
        "payload_sha256": PAYLOAD_SHA,
        "received_at": "2026-11-28T15:00:00.123456Z",
        "outcome": "accepted",
        "record": "EST/law/penal-code",
        "version": 4,
    }
    fields.update(changes)
    return submission_entry(**fields)


def test_accepted_submission_entry_bytes() -> None:
    expected = (
        (
            '{"index":4711,"jws_sha256":"<JWS>","kid":"EST/2026-01","outcome":"accepted","participant":"EST",'
            '"payload_sha256":"<PAYLOAD>","received_at":"2026-11-28T15:00:00.123456Z","record":"EST/law/penal-code",'
            '"submission_id":"0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10","type":"submission","v":1,"version":4}'
        )
        .replace("<JWS>", JWS_SHA)
        .replace("<PAYLOAD>", PAYLOAD_SHA)
    )
    assert _submission() == expected.encode()


def test_rejected_submission_entry_has_no_record_or_version() -> None:
    entry = _submission(outcome="rejected", record=None, version=None, received_at="2026-11-28T15:00:00Z")
    assert json.loads(entry) == {
        "v": 1,
        "type": "submission",
        "index": 4711,
        "submission_id": "0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10",
        "participant": "EST",
        "kid": "EST/2026-01",
        "jws_sha256": JWS_SHA,
        "payload_sha256": PAYLOAD_SHA,
        "received_at": "2026-11-28T15:00:00Z",
        "outcome": "rejected",
    }
    assert entry == json.dumps(json.loads(entry), sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"record": None}, "needs record and version"),
        ({"version": None}, "needs record and version"),
        ({"outcome": "rejected"}, "carries no record"),
        ({"outcome": "rejected", "record": None}, "carries no record"),
        ({"outcome": "pending"}, "outcome must be"),
        ({"version": 0}, "version must be"),
        ({"version": True}, "version must be"),
        ({"index": -1}, "index must be"),
        ({"index": 2**53}, "index must be"),
        ({"jws_sha256": "A" * 64}, "jws_sha256"),
        ({"payload_sha256": "ab"}, "payload_sha256"),
        ({"received_at": "2026-11-28T15:00:00+00:00"}, "received_at"),
        ({"received_at": "2026-11-28 15:00:00Z"}, "received_at"),
        ({"received_at": "2026-11-28t15:00:00z"}, "received_at"),
        ({"received_at": "2026-13-28T15:00:00Z"}, "not a valid date"),
        ({"participant": ""}, "participant"),
        ({"kid": None}, "kid"),
    ],
)
def test_submission_entry_fields_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(EntryError, match=message):
        _submission(**changes)


# ---- key entries --------------------------------------------------------------------------------------


def test_key_entry_bytes() -> None:
    entry = key_entry(
        index=0,
        action="added",
        kid="EST/2026-01",
        participant="EST",
        jwk_thumbprint="kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        at="2026-01-01T00:00:00Z",
    )
    assert entry == (
        b'{"action":"added","at":"2026-01-01T00:00:00Z","index":0,'
        b'"jwk_thumbprint":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","kid":"EST/2026-01",'
        b'"participant":"EST","type":"key","v":1}'
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": "rotated"}, "action must be"),
        ({"at": "yesterday"}, "at must be"),
        ({"jwk_thumbprint": ""}, "jwk_thumbprint"),
        ({"index": 1.5}, "index must be"),
    ],
)
def test_key_entry_fields_are_checked(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "index": 7,
        "action": "revoked",
        "kid": "EST/2026-01",
        "participant": "EST",
        "jwk_thumbprint": "thumb",
        "at": "2026-06-01T12:00:00Z",
    }
    fields.update(changes)
    with pytest.raises(EntryError, match=message):
        key_entry(**fields)


@pytest.mark.parametrize(
    "text",
    ["plain", 'quote " and \\ backslash', "controls \x00\x01\x1f\n\r\t\b\f", "é 网络 😀 \u2028\u2029 \x7f", ""],
)
def test_fast_canonical_form_of_entries_equals_rfc8785(text: str) -> None:
    from exchange.transparency.entries import _canonical_flat

    entry: dict[str, str | int] = {"v": 1, "zeta": text, "alpha": 9007199254740991, "mid": -5, "Z": "x", "a_b": 0}
    assert _canonical_flat(entry) == rfc8785.dumps(entry)
