"""Witness cosignatures (C2SP tlog-cosignature v1, Ed25519), checked against the specification's bytes."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.transparency.cosignature import (
    QuorumError,
    WitnessSigner,
    check_quorum,
    cosigned_message,
    parse_cosigner_key,
)
from exchange.transparency.note import NoteError, NoteSigner, checkpoint_body, verify_note

# RFC 8032 §7.1 test 1: a published Ed25519 key pair.
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
WITNESS = "witness.example.com/w1"
BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def _signer(name: str = WITNESS, seed: bytes = SEED) -> WitnessSigner:
    return WitnessSigner(name, Ed25519PrivateKey.from_private_bytes(seed))


def _log_note(size: int = 5) -> tuple[str, str]:
    log = NoteSigner("log.example", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    return log.sign(checkpoint_body("log.example", size, bytes(32))), log.verifier_key


def test_message_is_the_header_time_line_and_body() -> None:
    # The specification's example message, byte for byte.
    assert cosigned_message(BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_vkey_and_key_id_follow_the_specification() -> None:
    signer = _signer()
    key_id = hashlib.sha256(WITNESS.encode() + b"\n\x04" + PUBLIC).digest()[:4]
    encoded = base64.b64encode(b"\x04" + PUBLIC).decode()
    assert signer.vkey == f"{WITNESS}+{key_id.hex()}+{encoded}"
    parsed = parse_cosigner_key(signer.vkey)
    assert parsed.key_id == key_id and parsed.name == WITNESS


def test_line_is_key_id_timestamp_and_signature_verifiable_by_hand() -> None:
    line = _signer().cosign(BODY, timestamp=1679315147)
    dash, name, encoded = line.rstrip("\n").split(" ")
    assert dash == "\u2014" and name == WITNESS and line.endswith("\n")
    raw = base64.b64decode(encoded)
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == hashlib.sha256(WITNESS.encode() + b"\n\x04" + PUBLIC).digest()[:4]
    assert struct.unpack(">Q", raw[4:12]) == (1679315147,)
    message = b"cosignature/v1\ntime 1679315147\n" + BODY.encode()
    Ed25519PublicKey.from_public_bytes(PUBLIC).verify(raw[12:], message)  # raises if wrong


def test_a_note_key_is_not_a_cosigner_key() -> None:
    _, log_vkey = _log_note()
    with pytest.raises(NoteError, match="type 0x04"):
        parse_cosigner_key(log_vkey)
    _, key_id, key = _signer().vkey.split("+", 2)
    with pytest.raises(NoteError, match="does not match"):
        parse_cosigner_key(f"other.example+{key_id}+{key}")


def test_quorum_met_and_the_log_signature_still_verifies() -> None:
    note, log_vkey = _log_note()
    body = verify_note(note, log_vkey)
    w1, w2 = _signer(), _signer("w2.example", bytes(31) + b"\x02")
    cosigned = note + w1.cosign(body) + w2.cosign(body)
    assert verify_note(cosigned, log_vkey) == body  # cosignature lines are ignored by the log's key
    found = check_quorum(cosigned, [w1.vkey, w2.vkey], 2)
    assert sorted(c.name for c in found) == ["w2.example", WITNESS]


def test_quorum_not_met_names_missing_and_invalid_witnesses() -> None:
    note, _ = _log_note()
    body = note[: note.index("\n\n") + 1]
    w1, w2, w3 = _signer(), _signer("w2.example", bytes(31) + b"\x02"), _signer("w3.example", bytes(31) + b"\x03")
    other_body = checkpoint_body("log.example", 6, bytes(32))
    forged = w2.cosign(other_body)  # a real signature, over another checkpoint
    cosigned = note + w1.cosign(body) + forged
    with pytest.raises(QuorumError) as caught:
        check_quorum(cosigned, [w1.vkey, w2.vkey, w3.vkey], 2)
    assert caught.value.missing == ["w3.example"]
    assert list(caught.value.invalid) == ["w2.example"]
    assert "1 of the required 2" in str(caught.value) and "w3.example" in str(caught.value)
    assert len(check_quorum(cosigned, [w1.vkey, w2.vkey, w3.vkey], 1)) == 1


def test_future_cosignature_is_refused() -> None:
    note, _ = _log_note()
    body = note[: note.index("\n\n") + 1]
    w1 = _signer()
    cosigned = note + w1.cosign(body, timestamp=2_000_000_000)
    with pytest.raises(QuorumError, match="future"):
        check_quorum(cosigned, [w1.vkey], 1, now=1_700_000_000)
    assert check_quorum(cosigned, [w1.vkey], 1, now=2_000_000_000)[0].timestamp == 2_000_000_000


def test_unknown_cosigners_are_ignored_and_bad_quorum_refused() -> None:
    note, _ = _log_note()
    body = note[: note.index("\n\n") + 1]
    stranger = _signer("stranger.example", bytes(31) + b"\x09")
    w1 = _signer()
    with pytest.raises(QuorumError, match=WITNESS):
        check_quorum(note + stranger.cosign(body), [w1.vkey], 1)
    with pytest.raises(NoteError, match="quorum"):
        check_quorum(note, [w1.vkey], 2)
    with pytest.raises(NoteError):
        check_quorum(note + "\u2014 " + WITNESS + " AAAA\n", [w1.vkey], 1)
