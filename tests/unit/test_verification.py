"""The one verification of a submission: every rule, with real Ed25519 and P-256 keys."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exchange.envelope import SigningKey
from exchange.identifiers import Serialization
from exchange.publickeys import PublicKey, b64url_encode
from exchange.verification import (
    ENVELOPE_RULES,
    KEY_RULES,
    Expected,
    VerificationError,
    VerifiedSubmission,
    verify_submission,
    verify_submission_async,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
RECEIVED = T0 + timedelta(hours=1)
ORIGIN = "https://repository.test"
SID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def registered(key: SigningKey, **lifecycle: Any) -> PublicKey:
    """The public half of ``key`` as the registry (or a key directory) holds it."""
    return PublicKey(key.kid, key.kid.split("/", 1)[0], key.alg, key.public_jwk, **{"valid_from": T0, **lifecycle})


def payload(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "submission_id": SID,
        "participant": "GBR",
        "audience": ORIGIN,
        "created_at": "2026-11-01T09:59:00Z",
        "action": "upsert",
        "kind": "law",
        "schema": "law/1",
        "record_id": "computer-misuse-act",
        "base_version": 2,
        "record": {"title": "Computer Misuse Act 1990"},
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


def sign(
    key: SigningKey,
    content: bytes,
    *,
    alg: str | None = None,
    kid: str | None = None,
    serialization: Serialization = "flattened",
    **header: Any,
) -> bytes:
    """A JWS over ``content`` with a header of our choosing (to build every kind of wrong submission)."""
    protected = b64url_encode(
        json.dumps({"alg": alg or key.alg, "kid": kid or key.kid, "typ": "exchange-submission+json", **header}).encode()
    )
    encoded = b64url_encode(content)
    signature = b64url_encode(key.sign(f"{protected}.{encoded}".encode("ascii")))
    if serialization == "compact":
        return f"{protected}.{encoded}.{signature}".encode("ascii")
    return json.dumps({"protected": protected, "payload": encoded, "signature": signature}).encode()


def signed(key: SigningKey, **overrides: Any) -> bytes:
    return sign(key, json.dumps(payload(**overrides)).encode())


def verify(
    body: bytes,
    *keys: PublicKey,
    serialization: Serialization = "flattened",
    received_at: datetime = RECEIVED,
    **options: Any,
) -> VerifiedSubmission:
    directory = {key.kid: key for key in keys}
    return verify_submission(body, serialization, directory.get, received_at=received_at, **options)


def refused(body: bytes, *keys: PublicKey, **options: Any) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify(body, *keys, **options)
    return caught.value


@pytest.fixture(params=["Ed25519", "ES256"])
def key(request: pytest.FixtureRequest) -> SigningKey:
    return SigningKey.generate("GBR/2026-01", request.param)


# ---- what a verified submission holds ------------------------------------------------------------


@pytest.mark.parametrize("serialization", ["flattened", "compact"])
def test_a_genuine_submission_returns_what_it_proved(key: SigningKey, serialization: Serialization) -> None:
    content = json.dumps(payload(submission_id=SID.upper())).encode()
    body = sign(key, content, serialization=serialization)
    verified = verify(body, registered(key), serialization=serialization, expected=Expected(audience=ORIGIN))
    assert (verified.participant, verified.submission_id, verified.kid, verified.kind) == (
        "GBR",
        SID,  # lower case, whatever the submitter wrote
        "GBR/2026-01",
        "law",
    )
    assert (verified.record_id, verified.action, verified.schema, verified.base_version) == (
        "computer-misuse-act",
        "upsert",
        "law/1",
        2,
    )
    assert verified.record == {"title": "Computer Misuse Act 1990"}
    assert verified.record_key == "GBR/law/computer-misuse-act"
    assert verified.audience == ORIGIN
    assert verified.created_at == datetime(2026, 11, 1, 9, 59, tzinfo=UTC)
    assert verified.received_at == RECEIVED
    assert verified.serialization == serialization
    assert verified.payload_bytes == content
    assert verified.payload_sha256 == hashlib.sha256(content).hexdigest()
    assert verified.jws_sha256 == hashlib.sha256(body).hexdigest()
    assert verified.document["record"] == {"title": "Computer Misuse Act 1990"}
    assert verified.signature_checked
    assert verified.key.kid == key.kid


def test_fields_of_the_wrong_type_are_left_to_the_record_schemas() -> None:
    key = SigningKey.generate("GBR/2026-01")
    verified = verify(signed(key, record_id=7, action=None, schema=["law/1"], base_version=True), registered(key))
    assert (verified.record_id, verified.action, verified.schema, verified.base_version) == (None, None, None, None)


def test_the_eddsa_name_of_the_ed25519_algorithm_is_accepted() -> None:
    key = SigningKey.generate("GBR/2026-01", "Ed25519")
    body = sign(key, json.dumps(payload()).encode(), alg="EdDSA")
    assert verify(body, registered(key)).participant == "GBR"


async def test_a_key_source_that_must_be_awaited() -> None:
    key = SigningKey.generate("GBR/2026-01", "ES256")
    public = registered(key)
    asked: list[str] = []

    async def lookup(kid: str) -> PublicKey | None:
        asked.append(kid)
        await asyncio.sleep(0)
        return public if kid == public.kid else None

    verified = await verify_submission_async(signed(key), "flattened", lookup, received_at=RECEIVED)
    assert verified.kid == key.kid and asked == [key.kid]
    with pytest.raises(VerificationError) as caught:
        await verify_submission_async(
            signed(SigningKey.generate("GBR/other")), "flattened", lookup, received_at=RECEIVED
        )
    assert caught.value.rule == "key:unknown"


# ---- the envelope --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "serialization", "rule"),
    [
        (b"not json", "flattened", "jws"),
        (b"a.b", "compact", "jws"),
        (b'{"protected": "e30", "payload": "e30"}', "flattened", "jws"),
    ],
)
def test_an_unreadable_envelope(body: bytes, serialization: Serialization, rule: str) -> None:
    error = refused(body, serialization=serialization)
    assert error.rule == rule and error.rule in ENVELOPE_RULES
    assert error.kid is None and error.payload_sha256 is None


def test_a_header_parameter_beyond_the_allowed_ones() -> None:
    key = SigningKey.generate("GBR/2026-01")
    error = refused(sign(key, b"{}", jku="https://attacker.test/keys"), registered(key))
    assert error.rule == "jws:header"


def test_alg_none_is_never_accepted() -> None:
    key = SigningKey.generate("GBR/2026-01")
    error = refused(sign(key, b"{}", alg="none"), registered(key))
    assert error.rule == "jws:alg-none"


# ---- the key -------------------------------------------------------------------------------------


def test_an_unknown_kid(key: SigningKey) -> None:
    content = json.dumps(payload()).encode()
    error = refused(sign(key, content))  # an empty directory
    assert (error.rule, error.pointer, error.kid) == ("key:unknown", "", "GBR/2026-01")
    assert error.payload_sha256 == hashlib.sha256(content).hexdigest()  # a fact a rejection records
    assert error.rule in KEY_RULES
    assert [i.as_dict() for i in error.issues] == [{"pointer": "", "rule": "key:unknown", "message": error.message}]


@pytest.mark.parametrize(
    ("lifecycle", "status"),
    [
        ({"valid_from": RECEIVED + timedelta(seconds=1)}, "not yet valid"),
        ({"valid_until": RECEIVED}, "expired"),
        ({"revoked_at": RECEIVED - timedelta(minutes=1)}, "revoked"),
    ],
)
def test_a_key_not_valid_when_the_submission_was_received(
    key: SigningKey, lifecycle: dict[str, datetime], status: str
) -> None:
    error = refused(signed(key), registered(key, **lifecycle))
    assert error.rule == "key:not-valid"
    assert error.message == f"key GBR/2026-01 was {status} when the submission was received"


def test_the_key_is_judged_at_receipt_not_now(key: SigningKey) -> None:
    """A key revoked after the submission arrived still vouches for it (the auditor's and follower's case)."""
    public = registered(key, revoked_at=RECEIVED + timedelta(seconds=1), valid_until=RECEIVED + timedelta(days=1))
    assert verify(signed(key), public).kid == key.kid


def test_the_alg_must_be_the_one_bound_to_the_key() -> None:
    ed25519 = SigningKey.generate("GBR/2026-01", "Ed25519")
    p256 = SigningKey.generate("GBR/2026-01", "ES256")
    # A genuine P-256 signature, under the kid of the registered Ed25519 key.
    error = refused(sign(p256, json.dumps(payload()).encode()), registered(ed25519))
    assert error.rule == "alg" and "ES256" in error.message
    # An Ed25519 key's signature claiming ES256 for a registered P-256 key.
    error = refused(sign(ed25519, json.dumps(payload()).encode(), alg="ES256"), registered(p256))
    assert error.rule == "signature"
    error = refused(sign(p256, json.dumps(payload()).encode(), alg="EdDSA"), registered(p256))
    assert error.rule == "alg"


def test_a_signature_by_another_key(key: SigningKey) -> None:
    impostor = SigningKey.generate(key.kid, key.alg)
    error = refused(signed(impostor), registered(key))
    assert error.rule == "signature" and "does not verify" in error.message


def test_bytes_changed_after_signing(key: SigningKey) -> None:
    jws = json.loads(signed(key))
    jws["payload"] = b64url_encode(json.dumps(payload(record_id="another")).encode())
    assert refused(json.dumps(jws).encode(), registered(key)).rule == "signature"


# ---- the payload ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        (b'{"participant": "GBR", "participant": "FRA"}', "duplicate member name 'participant'"),
        (b'{"participant": "GBR", "record": {"n": NaN}}', "NaN is not a JSON number"),
        (b"\xff\xfe", "not UTF-8 at byte 0"),
    ],
)
def test_a_payload_that_is_not_i_json(key: SigningKey, content: bytes, fault: str) -> None:
    error = refused(sign(key, content), registered(key))
    assert (error.rule, error.message) == ("i-json", fault)


def test_an_i_json_fault_is_located(key: SigningKey) -> None:
    error = refused(sign(key, b'{"record": {"t": "\\ud800"}}'), registered(key))
    assert (error.rule, error.pointer, error.message) == ("i-json", "/record/t", "string holds an unpaired surrogate")


def test_a_payload_nested_too_deep(key: SigningKey) -> None:
    deep: Any = "leaf"
    for _ in range(40):
        deep = {"a": deep}
    error = refused(signed(key, record=deep), registered(key), max_depth=32)
    assert error.rule == "i-json" and "deeper" in error.message


@pytest.mark.parametrize("content", [b"[]", b'"GBR"', b"42", b"null"])
def test_a_payload_that_is_not_an_object(key: SigningKey, content: bytes) -> None:
    error = refused(sign(key, content), registered(key))
    assert (error.rule, error.pointer, error.message) == ("schema:type", "", "the payload must be a JSON object")


def test_a_participant_that_does_not_own_the_key(key: SigningKey) -> None:
    error = refused(signed(key, participant="FRA"), registered(key))
    assert (error.rule, error.pointer) == ("key:not-owned", "/participant")
    assert "belongs to GBR" in error.message and "'FRA'" in error.message
    assert refused(signed(key, participant=None), registered(key)).rule == "key:not-owned"


def test_a_payload_for_another_audience(key: SigningKey) -> None:
    body = signed(key, audience="https://other.test")
    error = refused(body, registered(key), expected=Expected(audience=ORIGIN))
    assert (error.rule, error.pointer) == ("audience", "/audience")
    assert "signed for audience 'https://other.test', not this repository" in error.message
    assert verify(body, registered(key)).audience == "https://other.test"  # unchecked when not expected


def test_every_fault_of_the_signed_fields_is_named(key: SigningKey) -> None:
    body = signed(key, submission_id="not-a-uuid", audience="https://other.test", created_at="yesterday", kind="tax")
    error = refused(body, registered(key), expected=Expected(audience=ORIGIN))
    assert [(i.pointer, i.rule) for i in error.issues] == [
        ("/submission_id", "schema:format"),
        ("/audience", "audience"),
        ("/created_at", "schema:format"),
        ("/kind", "schema:enum"),
    ]
    assert (error.rule, error.pointer, error.message) == (
        "schema:format",
        "/submission_id",
        "4 problems with the payload",
    )


def test_created_at_within_the_window(key: SigningKey) -> None:
    window = (timedelta(minutes=10), timedelta(minutes=1))
    assert verify(signed(key, created_at="2026-11-01T09:51:00Z"), registered(key), created_window=window)
    old = refused(signed(key, created_at="2026-11-01T09:49:59Z"), registered(key), created_window=window)
    assert (old.rule, old.pointer) == ("created-at-window", "/created_at") and "older than 600 seconds" in old.message
    future = refused(signed(key, created_at="2026-11-01T10:01:01Z"), registered(key), created_window=window)
    assert future.rule == "created-at-window" and "lies in the future" in future.message
    assert verify(signed(key, created_at="2020-01-01T00:00:00Z"), registered(key))  # no window: any time


@pytest.mark.parametrize(
    ("expected", "rule", "pointer"),
    [
        (Expected(kid="GBR/2026-02"), "kid", ""),
        (Expected(participant="FRA"), "participant", "/participant"),
        (Expected(submission_id="7c9e6679-7425-40de-944b-e07fc1f90ae7"), "submission-id", "/submission_id"),
        (Expected(kind="case"), "record", "/kind"),
        (Expected(record_id="penal-code"), "record", "/record_id"),
        (Expected(action="withdraw"), "record", "/action"),
    ],
)
def test_what_the_caller_expected(key: SigningKey, expected: Expected, rule: str, pointer: str) -> None:
    error = refused(signed(key), registered(key), expected=expected)
    assert (error.rule, error.pointer) == (rule, pointer)


def test_what_the_caller_expected_when_it_holds() -> None:
    key = SigningKey.generate("GBR/2026-01")
    expected = Expected(
        kid="GBR/2026-01",
        participant="GBR",
        submission_id=SID.upper(),
        audience=ORIGIN,
        kind="law",
        record_id="computer-misuse-act",
        action="upsert",
    )
    assert verify(signed(key), registered(key), expected=expected).submission_id == SID


# ---- the fast path for bytes verified on receipt -------------------------------------------------


def test_verified_on_receipt_skips_only_the_signature(key: SigningKey) -> None:
    impostor = SigningKey.generate(key.kid, key.alg)
    forged = signed(impostor)
    assert refused(forged, registered(key)).rule == "signature"
    verified = verify(forged, registered(key), verified_on_receipt=True)
    assert not verified.signature_checked and verified.participant == "GBR"

    options: dict[str, Any] = {"verified_on_receipt": True}
    assert refused(signed(key), **options).rule == "key:unknown"
    revoked = registered(key, revoked_at=T0)
    assert refused(signed(key), revoked, **options).rule == "key:not-valid"
    other_alg = "ES256" if key.alg == "Ed25519" else "EdDSA"
    assert refused(sign(key, json.dumps(payload()).encode(), alg=other_alg), registered(key), **options).rule == "alg"
    assert refused(sign(key, b'{"a": 1, "a": 2}'), registered(key), **options).rule == "i-json"
    assert refused(sign(key, b"[]"), registered(key), **options).rule == "schema:type"
    assert refused(signed(key, participant="FRA"), registered(key), **options).rule == "key:not-owned"
    error = refused(signed(key), registered(key), expected=Expected(audience="https://x.test"), **options)
    assert error.rule == "audience"


def test_the_verification_is_client_side_code() -> None:
    """The follower, the mirror and the auditor share it: it never loads the registry, the services or the gateway."""
    script = (
        "import sys, exchange.verification, exchange.identifiers, exchange.feedcheck\n"
        "bad = [m for m in sys.modules if m.startswith(('exchange.repository', 'exchange.services', "
        "'exchange.gateway', 'exchange.directory', 'exchange.intake', 'exchange.processing', 'exchange.sqlitedb'))]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
