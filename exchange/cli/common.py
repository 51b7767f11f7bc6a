"""What the commands share: reading settings once, running coroutines, readable failures."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Quorum:
    """The witnesses a verification requires, and how many of them."""

    witnesses: tuple[str, ...] = ()
    size: int = 0


def quorum_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--witness VKEY`` (repeatable) and ``--quorum N``, given to the command as ``quorum: Quorum``."""

    def to_quorum(ctx: click.Context, _: click.Parameter, value: int | None) -> Quorum:
        return make_quorum(tuple(ctx.params.pop("witnesses", ())), value)

    command = click.option(
        "--quorum",
        type=int,
        callback=to_quorum,
        help="How many of the --witness keys must have cosigned (default: all).",
    )(command)
    return click.option(
        "--witness",
        "witnesses",
        multiple=True,
        is_eager=True,
        help="A witness's verifier key (cosignature/v1 vkey) whose cosignature to require (repeatable).",
    )(command)


def make_quorum(witnesses: tuple[str, ...], quorum: int | None) -> Quorum:
    """Check the witnesses' keys and the quorum; click errors name the option at fault."""
    from exchange.transparency.cosignature import parse_cosigner_key
    from exchange.transparency.note import NoteError

    for vkey in witnesses:
        try:
            parse_cosigner_key(vkey)
        except NoteError as exc:
            raise click.BadParameter(f"{vkey!r}: {exc}", param_hint="--witness") from None
    if quorum is not None and not witnesses:
        raise click.UsageError("--quorum needs the witnesses' keys: --witness VKEY (repeatable)")
    size = len(witnesses) if quorum is None else quorum
    if witnesses and not 0 < size <= len(witnesses):
        message = f"must lie in [1, {len(witnesses)}] (the number of --witness keys)"
        raise click.BadParameter(message, param_hint="--quorum")
    return Quorum(witnesses, size)


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


def signing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--url``, ``--kid`` and ``--key``: the repository and the key a command signs with."""
    for option in (
        click.option(
            "--key",
            "key_file",
            required=True,
            envvar="EXCHANGE_CLIENT_KEY",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Your private key, PEM ($EXCHANGE_CLIENT_KEY).",
        ),
        click.option(
            "--kid",
            required=True,
            envvar="EXCHANGE_CLIENT_KID",
            help="Your key id, e.g. EST/2026-01 ($EXCHANGE_CLIENT_KID).",
        ),
        click.option(
            "--url", required=True, envvar="EXCHANGE_CLIENT_URL", help="Repository URL ($EXCHANGE_CLIENT_URL)."
        ),
    ):
        command = option(command)
    return command
