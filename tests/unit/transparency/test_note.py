"""Signed notes and checkpoints (C2SP signed-note v1, tlog-checkpoint v1)."""

from __future__ import annotations

import base64
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.transparency.merkle import EMPTY_ROOT, MemoryNodeStore
from exchange.transparency.note import (
    Checkpoint,
    NoteError,
    NoteSigner,
    checkpoint_body,
    note_key_id,
    parse_checkpoint,
    parse_verifier_key,
    sign_many,
    verify_note,
)
from tests.support import reference_missing

ORIGIN = "repo.example.int/log"
EMPTY_B64 = base64.b64encode(EMPTY_ROOT).decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xfb" * 32).decode()

# c2sp.org/signed-note, example verifier key and note.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# golang.org/x/mod/sumdb/note, documented example: signer key, verifier key, text and the signed note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _signer(seed: int, name: str = ORIGIN) -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


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


# ---- published examples -------------------------------------------------------------------------------


def test_c2sp_example_note_verifies() -> None:
    assert verify_note(C2SP_NOTE, C2SP_VKEY) == "This is an example message.\n"
    key = parse_verifier_key(C2SP_VKEY)
    assert key.name == "example.com/foo"
    assert key.key_id.hex() == "530d903a"


def test_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 0x01
    signer = NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed[1:]))
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.verifier_key == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_NOTE
    assert verify_note(GO_NOTE, GO_VKEY) == GO_TEXT


# ---- checkpoints --------------------------------------------------------------------------------------


def test_checkpoint_body_format() -> None:
    assert checkpoint_body(ORIGIN, 0, EMPTY_ROOT) == f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert parse_checkpoint(checkpoint_body(ORIGIN, 4712, b"\x07" * 32)) == (ORIGIN, 4712, b"\x07" * 32)


def test_checkpoint_round_trip_through_a_signed_note() -> None:
    tree = MemoryNodeStore()
    tree.append([b"one", b"two", b"three"])
    signer = _signer(1)
    note = signer.sign(checkpoint_body(ORIGIN, tree.size, tree.root()))
    lines = note.split("\n")
    assert lines[3] == ""
    assert lines[4].startswith(f"\u2014 {ORIGIN} ")
    assert base64.b64decode(lines[4].split(" ")[2])[:4] == signer.key_id
    checkpoint = parse_checkpoint(verify_note(note, signer.verifier_key))
    assert checkpoint == Checkpoint(ORIGIN, 3, tree.root())
    assert checkpoint.size == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n3\n", "needs an origin"),
        (f"{ORIGIN}\n03\n{EMPTY_B64}\n", "leading zeros"),
        (f"{ORIGIN}\n-3\n{EMPTY_B64}\n", "decimal"),
        (f"{ORIGIN}\n3\n{EMPTY_B64}", "newline"),
        (f"{ORIGIN}\n3\n{base64.b64encode(b'short').decode()}\n", "bytes"),
        (f"{ORIGIN}\n3\n{URLSAFE_ROOT}\n", "base64"),
        (f"\n3\n{EMPTY_B64}\n", "empty line"),
        (f"{ORIGIN}\n3\n{EMPTY_B64}\n\nextra\n", "empty line"),
    ],
)
def test_malformed_checkpoints_are_refused(body: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_checkpoint(body)


def test_checkpoint_extension_lines_are_ignored() -> None:
    body = checkpoint_body(ORIGIN, 5, EMPTY_ROOT) + "extension\n"
    assert parse_checkpoint(body) == (ORIGIN, 5, EMPTY_ROOT)


def test_checkpoint_body_arguments_are_checked() -> None:
    with pytest.raises(NoteError):
        checkpoint_body("", 1, EMPTY_ROOT)
    with pytest.raises(NoteError):
        checkpoint_body("a\nb", 1, EMPTY_ROOT)
    with pytest.raises(NoteError):
        checkpoint_body(ORIGIN, -1, EMPTY_ROOT)
    with pytest.raises(NoteError):
        checkpoint_body(ORIGIN, 1, b"\x00" * 31)


# ---- verification -------------------------------------------------------------------------------------


def test_tampered_body_is_refused() -> None:
    signer = _signer(2)
    note = signer.sign(checkpoint_body(ORIGIN, 10, b"\x01" * 32))
    tampered = note.replace("\n10\n", "\n11\n", 1)
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(tampered, signer.verifier_key)


def test_tampered_signature_is_refused() -> None:
    signer = _signer(2)
    note = signer.sign("hello\n")
    text, line = note.split("\n\n")
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[10] ^= 1
    forged = f"{text}\n\n\u2014 {ORIGIN} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(forged, signer.verifier_key)


def test_wrong_key_is_refused() -> None:
    note = _signer(3).sign("hello\n")
    with pytest.raises(NoteError, match="not signed by"):
        verify_note(note, _signer(4).verifier_key)
    with pytest.raises(NoteError, match="not signed by"):
        verify_note(note, _signer(3, "other.example/log").verifier_key)


def test_unknown_signature_lines_are_ignored() -> None:
    signer = _signer(5)
    text = checkpoint_body(ORIGIN, 1, b"\x02" * 32)
    witness = _signer(6, "witness.example/w1").signature_line(text)
    other_id = base64.b64encode(b"\xde\xad\xbe\xef" + bytes(64)).decode()
    other_type = base64.b64encode(b"\x01\x02\x03\x04" + bytes(2000)).decode()
    note = (
        text
        + "\n"
        + witness
        + f"\u2014 {ORIGIN} {other_id}\n"  # same name, another key id
        + signer.signature_line(text)
        + f"\u2014 {ORIGIN} {other_type}\n"  # same name, another key type (a long signature)
    )
    assert verify_note(note, signer.verifier_key) == text


def test_a_bad_signature_by_the_trusted_key_fails_the_note() -> None:
    signer = _signer(5)
    text = "hello\n"
    bad_signature = base64.b64encode(signer.key_id + bytes(64)).decode()
    bad = f"\u2014 {ORIGIN} {bad_signature}\n"
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(text + "\n" + signer.signature_line(text) + bad, signer.verifier_key)


def test_co_signed_note_verifies_with_either_key() -> None:
    old, new = _signer(7), _signer(8)
    body = checkpoint_body(ORIGIN, 99, b"\x03" * 32)
    note = sign_many(body, [old, new])
    assert note.count("\u2014 ") == 2
    assert verify_note(note, old.verifier_key) == body
    assert verify_note(note, new.verifier_key) == body
    with pytest.raises(NoteError, match="not signed by"):
        verify_note(note, _signer(9).verifier_key)
    with pytest.raises(NoteError, match="at least one"):
        sign_many(body, [])


def test_text_with_blank_lines_is_split_at_the_last_blank_line() -> None:
    signer = _signer(10)
    text = "first\n\nsecond\n"
    assert verify_note(signer.sign(text), signer.verifier_key) == text


@pytest.mark.parametrize(
    "note",
    [
        "hello\n",  # no signatures
        "hello\n\n",  # empty signature block
        "hello\n\n\u2014 name\n",  # no signature field
        "hello\n\n- name AAAAAAAA\n",  # not an em dash
        "hello\n\n\u2014 name AAAA AAAA\n",  # extra field
        "hello\n\n\u2014 name !!!!\n",  # not base64
        "hello\n\n\u2014 name AAAA\n",  # too short for a key id
        "hel\tlo\n\n\u2014 name AAAAAAAA\n",  # control character
        "hello\n\n\u2014 name AAAAAAAA",  # no final newline
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(NoteError):
        verify_note(note, _signer(11).verifier_key)


def test_signing_refuses_text_that_is_not_a_note() -> None:
    signer = _signer(12)
    for text in ["no newline", "tab\there\n", "nul\x00\n"]:
        with pytest.raises(NoteError):
            signer.sign(text)


# ---- keys ---------------------------------------------------------------------------------------------


def test_verifier_key_format() -> None:
    signer = _signer(13)
    vkey = signer.verifier_key
    assert re.fullmatch(re.escape(ORIGIN) + r"\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}", vkey)
    name, key_id_hex, encoded = vkey.split("+", 2)
    raw = base64.b64decode(encoded)
    assert (name, raw[0], raw[1:]) == (ORIGIN, 0x01, signer.public_key)
    assert bytes.fromhex(key_id_hex) == signer.key_id == note_key_id(ORIGIN, signer.public_key)
    parsed = parse_verifier_key(vkey)
    assert (parsed.name, parsed.key_id) == (ORIGIN, signer.key_id)
    assert "PRIVATE" not in repr(signer)


def test_verifier_key_with_plus_in_its_base64_part() -> None:
    signer = _signer(14)
    assert signer.verifier_key.count("+") > 2
    assert parse_verifier_key(signer.verifier_key).key_id == signer.key_id
    assert verify_note(signer.sign("hello\n"), signer.verifier_key) == "hello\n"


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # key id does not match
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not lowercase hex
        "PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other name
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # wrong length
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in the name
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # empty name
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier_key(vkey)


def test_signer_names_are_checked() -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    for name in ["", "a b", "a+b", "a\nb"]:
        with pytest.raises(NoteError):
            NoteSigner(name, key)


# ---- the independent verifier -------------------------------------------------------------------------


def test_checkpoint_verifies_with_the_independent_verifier() -> None:
    interop = _interop()
    if interop is None:
        reference_missing("the independent verifier ../shared/interop/rfc9162.py")
    tree = MemoryNodeStore()
    tree.append([b"a", b"b", b"c", b"d", b"e"])
    # Keys whose base64 part has no '+': that script splits the verifier key on every '+'.
    old, new = _signer(15), _signer(16)
    note = sign_many(checkpoint_body(ORIGIN, tree.size, tree.root()), [old, new])
    for signer in (old, new):
        text = interop.note_verify(note, signer.verifier_key)
        assert interop.checkpoint_parse(text) == (ORIGIN, 5, tree.root())
