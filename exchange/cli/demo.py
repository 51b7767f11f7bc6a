"""``exchange demo``: the service with the packaged examples loaded, or those examples loaded elsewhere."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from exchange import admin, times
from exchange.demo import DemoError, Loaded, load, wait_until_up
from exchange.gateway.app import Background
from exchange.services import Services
from exchange.settings import Settings


def _progress(line: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"  {line}", err=True)


def _summary(done: Loaded, url: str) -> None:
    click.echo(
        f"demo: {done.accepted} record(s) accepted, {done.unchanged} already there; "
        f"{done.participants} participant(s) and {done.keys} key(s) registered",
        err=True,
    )
    for line in done.rejected:
        click.echo(f"  not loaded: {line}", err=True)
    click.echo(f"open {url}/ in a browser", err=True)


async def load_into(url: str, token: str, keys: Path) -> int:
    """Load the demo into the running service at ``url``; 0 when every record is in, 1 otherwise."""
    try:
        done = await load(url.rstrip("/"), token, keys, _progress)
    except DemoError as exc:
        click.echo(f"demo: {exc}", err=True)
        return 1
    _summary(done, url.rstrip("/"))
    return 0 if not done.rejected else 1


def write_env(data_dir: Path, url: str) -> Path:
    """Write ``DATA_DIR/demo.env``: the variable the README's commands read (the demo's address), to be
    sourced once in the terminal where they are typed."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / "demo.env"
    path.write_text(f"export EXCHANGE_CLIENT_URL={url}\n", encoding="utf-8")
    click.echo(f"for the README's commands, in another terminal: . {path}", err=True)
    return path


def demo_job(settings: Settings, keys: Path) -> Background:
    """A job beside ``exchange serve`` that loads the demo through the service's own HTTP API, with an
    admin token that exists only in memory and is revoked when the loading is done."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104 (a comparison)
    url = f"http://{host}:{settings.port}"

    async def job(services: Services, stop: asyncio.Event) -> None:
        write_env(settings.data_dir, url)
        secret, info = await admin.create_token(services.repository, "admin", None, "demo loader")
        try:
            await wait_until_up(url)
            done = await load(url, secret, keys, _progress)
            _summary(done, url)
        except DemoError as exc:
            click.echo(f"demo: {exc}", err=True)
        finally:
            await services.repository.revoke_token(info.token_id, times.iso(times.now()))
        await stop.wait()

    return job
