"""Settings: typed, read once, unknown keys refused, documented from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.settings import SettingsError, load_settings, settings_reference

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_defaults_need_nothing() -> None:
    settings = load_settings(env={})
    assert settings.port == 8080 and settings.host == "127.0.0.1"
    assert settings.sqlite_path == Path("exchange-data/exchange.db")
    assert settings.public_origin == "http://127.0.0.1:8080"


def test_environment_is_typed() -> None:
    settings = load_settings(env={"EXCHANGE_PORT": "9000", "EXCHANGE_DATA_DIR": "/srv/x", "EXCHANGE_RATE_LIMIT": "2.5"})
    assert settings.port == 9000 and settings.data_dir == Path("/srv/x") and settings.rate_limit == 2.5


def test_an_empty_variable_counts_as_unset() -> None:
    settings = load_settings(env={"EXCHANGE_MIRROR_LOG_KEY": "", "EXCHANGE_PORT": "", "EXCHANGE_WITNESSES": ""})
    assert (settings.mirror_log_key, settings.port, settings.witnesses) == (None, 8080, ())


def test_unknown_environment_variable_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="EXCHANGE_PROT"):
        load_settings(env={"EXCHANGE_PROT": "9000"})


def test_test_and_client_variables_are_not_settings() -> None:
    load_settings(env={"EXCHANGE_TEST_DATABASE_URL": "x", "EXCHANGE_REQUIRE_SERVICES": "1", "EXCHANGE_CLIENT_URL": "y"})


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="EXCHANGE_PORT"):
        load_settings(env={"EXCHANGE_PORT": "eighty"})


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "exchange.toml"
    config.write_text('port = 9001\nhost = "0.0.0.0"\nmax_body_bytes = 2048\n')
    settings = load_settings(env={"EXCHANGE_CONFIG": str(config), "EXCHANGE_PORT": "9002"}, host="::1")
    assert (settings.port, settings.host, settings.max_body_bytes) == (9002, "::1", 2048)


def test_unknown_file_key_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "exchange.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(env={}, config_file=config)


def test_production_needs_an_https_origin() -> None:
    with pytest.raises(SettingsError, match="https"):
        load_settings(env={"EXCHANGE_MODE": "production"})
    load_settings(env={"EXCHANGE_MODE": "production", "EXCHANGE_ORIGIN": "https://repo.example.int"})


def test_reference_document_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == settings_reference(), (
        "run: exchange settings --markdown > docs/settings.md"
    )
