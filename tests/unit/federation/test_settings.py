"""Witness settings: lists read from the environment, and every key checked at start-up."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.settings import SettingsError, load_settings
from exchange.transparency.cosignature import WitnessSigner
from exchange.transparency.note import NoteSigner

LOG_A = NoteSigner("a.example", Ed25519PrivateKey.generate()).verifier_key
LOG_B = NoteSigner("b.example", Ed25519PrivateKey.generate()).verifier_key
WITNESS = WitnessSigner("w.example/witness", Ed25519PrivateKey.generate()).vkey


def test_lists_come_from_the_environment() -> None:
    settings = load_settings(
        env={
            "EXCHANGE_WITNESS_LOGS": f"{LOG_A}, {LOG_B}",
            "EXCHANGE_WITNESSES": f"{WITNESS} https://w.example/witness, {WITNESS} http://127.0.0.1:9/witness",
        }
    )
    assert settings.witness_logs == (LOG_A, LOG_B)
    assert settings.witnesses == (f"{WITNESS} https://w.example/witness", f"{WITNESS} http://127.0.0.1:9/witness")
    assert load_settings(env={}).witness_logs == () and load_settings(env={}).witnesses == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EXCHANGE_WITNESS_LOGS", WITNESS),  # a cosigner key is not a log key
        ("EXCHANGE_WITNESS_LOGS", "a.example+00000000+AAAA"),
        ("EXCHANGE_WITNESSES", LOG_A + " https://w.example/witness"),  # a log key is not a cosigner key
        ("EXCHANGE_WITNESSES", WITNESS),  # no URL
        ("EXCHANGE_WITNESSES", WITNESS + " ftp://w.example/"),
        ("EXCHANGE_WITNESS_NAME", "has space"),
    ],
)
def test_bad_keys_stop_start_up_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(env={variable: value})
