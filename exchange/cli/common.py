"""What the commands share: reading settings once, running coroutines, readable failures."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from exchange import loops
from exchange.errors import ExchangeError
from exchange.settings import Settings, SettingsError, load_settings

T = TypeVar("T")

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file (default: $EXCHANGE_CONFIG).",
)


def settings_from(config_file: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config_file=config_file, **overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; domain errors become one readable line and exit status 1."""
    try:
        return loops.run(_call(main))
    except ExchangeError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        for item in exc.errors:
            click.echo(f"  {item.get('pointer') or '/'}: {item.get('message')} [{item.get('rule')}]", err=True)
        sys.exit(1)


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()
