"""The envelope and I-JSON: structure checks before any use, verification returns the payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from exchange import ijson
from exchange.envelope import SigningKey, parse
from exchange.errors import ExchangeError, Problems
from exchange.identifiers import COMPACT_MEDIA_TYPE, FLATTENED_MEDIA_TYPE
from exchange.publickeys import KeyFormatError, PublicKey, jwk_thumbprint, parse_public_key


def registered(key: SigningKey) -> PublicKey:
    return PublicKey(key.kid, key.kid.split("/")[0], key.alg, key.public_jwk, datetime(2020, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("alg", ["Ed25519", "ES256"])
def test_sign_parse_verify_round_trip(alg: str) -> None:
    key = SigningKey.generate("EST/2026-01", alg)  # type: ignore[arg-type]
    body = json.dumps(key.sign_jws(b'{"a":1}')).encode()
    jws = parse(body, FLATTENED_MEDIA_TYPE)
    assert jws.kid == "EST/2026-01" and jws.alg == alg
    assert jws.verify(registered(key)) == b'{"a":1}'


def test_another_key_does_not_verify() -> None:
    key, other = SigningKey.generate("EST/a"), SigningKey.generate("EST/a")
    jws = parse(json.dumps(key.sign_jws(b"{}")).encode(), FLATTENED_MEDIA_TYPE)
    with pytest.raises(ExchangeError) as err:
        jws.verify(registered(other))
    assert err.value.problem == Problems.BAD_SIGNATURE


def test_rfc8037_thumbprint() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_public_keys_from_pem_and_jwk_agree() -> None:
    key = SigningKey.generate("EST/a", "ES256")
    assert parse_public_key(key.public_pem()) == parse_public_key(json.dumps(key.public_jwk).encode())
    with pytest.raises(KeyFormatError, match="private"):
        parse_public_key(key.private_pem())
    with pytest.raises(KeyFormatError):
        parse_public_key(b'{"kty": "RSA", "n": "x", "e": "AQAB"}')


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        (b'{"a": 1, "a": 2}', "duplicate member name"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": 9007199254740993}', "I-JSON range"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b"\xff", "not UTF-8"),
        (b"[" * 40 + b"]" * 40, "nesting"),
        (b'{"a": 1', "line 1"),
    ],
)
def test_ijson_refuses(raw: bytes, fault: str) -> None:
    with pytest.raises(ijson.IJSONError, match=fault):
        ijson.loads(raw)


def test_ijson_accepts_plain_json() -> None:
    assert ijson.loads('{"a": [1, 2.5, "é\\u00e9", null, true]}'.encode()) == {"a": [1, 2.5, "éé", None, True]}


def test_compact_and_flattened_carry_the_same_signature() -> None:
    key = SigningKey.generate("EST/a")
    flat = key.sign_jws(b"{}")
    compact = f"{flat['protected']}.{flat['payload']}.{flat['signature']}".encode()
    assert parse(compact, COMPACT_MEDIA_TYPE).verify(registered(key)) == b"{}"


def test_ijson_names_where_the_fault_is() -> None:
    with pytest.raises(ijson.IJSONError) as err:
        ijson.loads(b'{"a": [1, {"b~/c": 9007199254740993}]}')
    assert err.value.pointer == "/a/1/b~0~1c"
    with pytest.raises(ijson.IJSONError) as err:
        ijson.loads(b'{"x": ' + b"[" * 40 + b"]" * 40 + b"}", max_depth=8)
    assert err.value.pointer.startswith("/x/0/0")


def test_ijson_accepts_escaped_text_and_paired_surrogates() -> None:
    text = json.dumps({"title": "Loi n° 2024 — 网络犯罪 😀"})  # ensure_ascii: every character escaped
    assert ijson.loads(text.encode()) == {"title": "Loi n° 2024 — 网络犯罪 😀"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "b": {"c": 2, "c": 3}}',  # a duplicate deep down
        b'{"a": "x", "a": "x"}',  # the same member twice
        b'{"a\\u003a": 1, "b": 2, "b": 3}',  # an escaped colon cannot hide a dropped member
        b'{"t": "a:b", "t": "a:b:c"}',  # colons inside strings
        b'[{"k": 1}, {"k": 1, "k": 2}]',
    ],
)
def test_ijson_finds_every_duplicate_member_name(raw: bytes) -> None:
    with pytest.raises(ijson.IJSONError, match="duplicate member name"):
        ijson.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"url": "https://example.org:8443/a", "t": "12:30", "n": [1.5, -0, 1e5]}',
        b'{"esc\\u003a": "x\\u003Ay", "k": 9007199254740991, "f": 1e300}',
        b'{"a": {"b": {"c": [true, false, null]}}, "s": "\\ud83d\\ude00"}',
        b"[]",
        b'"text"',
        b"12",
    ],
)
def test_ijson_fast_and_strict_parsers_agree(raw: bytes) -> None:
    assert ijson.loads(raw) == json.loads(raw)


def test_ijson_refuses_numbers_beyond_double_precision() -> None:
    with pytest.raises(ijson.IJSONError, match="double precision"):
        ijson.loads(b'{"a": 1e400}')
    with pytest.raises(ijson.IJSONError, match="I-JSON range"):
        ijson.loads(b'{"a": 123456789012345678901234567890}')
