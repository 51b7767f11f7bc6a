"""``exchange admin``: the registry and dead letters, straight on the configured database."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import click

from exchange import admin as registry
from exchange import times
from exchange.cli.common import config_option, run, settings_from
from exchange.models import PARTICIPANT_TYPES, ROLES
from exchange.repository.common import redact
from exchange.services import Services, open_services

T = TypeVar("T")


def _with_services(config_file: Path | None, action: Callable[[Services], Awaitable[T]]) -> T:
    settings = settings_from(config_file)
    path = settings.sqlite_path
    init = bool((click.get_current_context().obj or {}).get("init"))
    if path is not None and not path.exists() and not init:
        raise click.ClickException(
            f"there is no repository at {path}: run this where the service keeps its data "
            "(EXCHANGE_DATA_DIR, EXCHANGE_DATABASE_URL or --config), or pass --init to create a new one"
        )
    click.echo(f"database: {path if path is not None else redact(settings.database_url or '')}", err=True)

    async def main() -> T:
        async with open_services(settings) as services:
            return await action(services)

    return run(main)


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return times.parse(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 date-time such as 2026-01-01T00:00:00Z") from None


_UNITS = {"d": 86400, "h": 3600, "m": 60}


def _expiry(value: str | None) -> datetime | None:
    """``--expires``: a date-time, or a whole number of days, hours or minutes from now."""
    if value is None:
        return None
    unit = _UNITS.get(value[-1:])
    if unit is not None and value[:-1].isascii() and value[:-1].isdigit() and len(value) < 9:
        return times.now() + timedelta(seconds=int(value[:-1]) * unit)
    try:
        return times.parse(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an RFC 3339 date-time nor a duration such as 90d, 12h or 30m",
            param_hint="--expires",
        ) from None


@click.group()
@click.option("--init", is_flag=True, help="Create the embedded database if it does not exist yet (otherwise refused).")
@click.pass_context
def admin(ctx: click.Context, init: bool) -> None:
    """Administer participants, keys, API tokens and dead letters.

    Acts on the database the settings name (it says which on standard error), and refuses an
    embedded one that does not exist yet unless --init is given.
    """
    ctx.ensure_object(dict)["init"] = init


@admin.group()
def participant() -> None:
    """Member States and organisations that submit."""


@participant.command("add")
@click.argument("participant_id")
@click.option("--name", required=True, help="Display name, e.g. 'Republic of Estonia'.")
@click.option("--type", "type_", required=True, type=click.Choice(PARTICIPANT_TYPES), help="Kind of participant.")
@click.option(
    "--jurisdiction",
    "jurisdictions",
    multiple=True,
    metavar="ISO3",
    help="A jurisdiction an organisation may submit about (repeatable). A State always has its own.",
)
@config_option
def participant_add(
    participant_id: str, name: str, type_: str, jurisdictions: tuple[str, ...], config_file: Path | None
) -> None:
    """Register PARTICIPANT_ID: a State's ISO 3166-1 alpha-3 code (EST) or org:<slug> (org:coe)."""
    added = _with_services(
        config_file,
        lambda s: registry.add_participant(s.repository, s.validator, participant_id, name, type_, list(jurisdictions)),
    )
    click.echo(json.dumps(added.as_dict(), indent=2))


@participant.command("list")
@config_option
def participant_list(config_file: Path | None) -> None:
    """List registered participants."""
    rows = _with_services(config_file, lambda s: s.repository.list_participants())
    for p in rows:
        click.echo(f"{p.id:<20} {p.type:<32} {p.name}  [{' '.join(p.jurisdictions)}]")


@admin.group()
def key() -> None:
    """Participants' signing keys (never deleted; revoked keys keep verifying what came before)."""


@key.command("add")
@click.argument("kid")
@click.option(
    "--public-key",
    "public_key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The public key: PEM or JWK file (Ed25519 or P-256).",
)
@click.option("--valid-from", help="RFC 3339 start of validity (default: now).")
@click.option("--valid-until", help="RFC 3339 end of validity (default: none).")
@config_option
def key_add(
    kid: str, public_key: Path, valid_from: str | None, valid_until: str | None, config_file: Path | None
) -> None:
    """Register key KID (<participant>/<label>, e.g. EST/2026-01) for its participant."""
    start, end = _time(valid_from), _time(valid_until)
    added, index = _with_services(
        config_file, lambda s: registry.add_key(s.repository, kid, public_key.read_bytes(), start, end)
    )
    click.echo(json.dumps({**added.to_jwk(), "log_index": index}, indent=2))


@key.command("revoke")
@click.argument("kid")
@click.option("--reason", required=True, help="Why (kept in the registry and the log).")
@config_option
def key_revoke(kid: str, reason: str, config_file: Path | None) -> None:
    """Revoke key KID from now on; submissions received before stay valid."""
    revoked, index = _with_services(config_file, lambda s: registry.revoke_key(s.repository, kid, reason))
    click.echo(json.dumps({**revoked.to_jwk(), "log_index": index}, indent=2))


@key.command("list")
@click.option("--participant", help="Only this participant's keys.")
@config_option
def key_list(participant: str | None, config_file: Path | None) -> None:
    """List registered keys with their status."""
    rows = _with_services(config_file, lambda s: s.repository.list_keys(participant))
    for k in rows:
        status = f"revoked {times.iso(k.revoked_at)}" if k.revoked_at else "active"
        until = times.iso(k.valid_until) if k.valid_until else "-"
        click.echo(f"{k.kid:<28} {k.alg:<8} {status:<40} from {times.iso(k.valid_from)} until {until}")


@admin.group()
def token() -> None:
    """API tokens for status, feeds, audit and administration."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
@click.option("--participant", help="The participant it belongs to (participant and subscriber roles).")
@click.option("--label", help="A note to recognise it by.")
@click.option(
    "--expires",
    metavar="WHEN",
    help="When it stops working: an RFC 3339 date-time, or a duration from now such as 90d, 12h or 30m.",
)
@config_option
def token_create(
    role: str, participant: str | None, label: str | None, expires: str | None, config_file: Path | None
) -> None:
    """Create a token and print it once on standard output (only its hash is stored)."""
    until = _expiry(expires)
    secret, info = _with_services(
        config_file, lambda s: registry.create_token(s.repository, role, participant, label, until)
    )
    click.echo(f"created {info.role} token {info.token_id}; it is shown only now", err=True)
    click.echo(secret)


@token.command("list")
@config_option
def token_list(config_file: Path | None) -> None:
    """List tokens (ids and roles, never secrets)."""
    rows = _with_services(config_file, lambda s: s.repository.list_tokens())
    for t in rows:
        state = f"revoked {t.revoked_at}" if t.revoked_at else f"expires {t.expires_at}" if t.expires_at else "active"
        click.echo(f"{t.token_id:<18} {t.role:<12} {t.participant or '-':<16} {state:<10} {t.label or ''}")


@token.command("revoke")
@click.argument("token_id")
@config_option
def token_revoke(token_id: str, config_file: Path | None) -> None:
    """Revoke token TOKEN_ID (from `exchange admin token list`)."""
    done = _with_services(config_file, lambda s: s.repository.revoke_token(token_id, times.iso(times.now())))
    if not done:
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"revoked {token_id}", err=True)


@admin.group("dead-letters")
def dead_letters() -> None:
    """Submissions that could not be processed."""


@dead_letters.command("list")
@config_option
def dead_list(config_file: Path | None) -> None:
    """Show dead letters with their reason and attempt count."""
    rows = _with_services(config_file, lambda s: s.queue.list_dead_letters(1000))
    for d in rows:
        click.echo(json.dumps(d.as_dict()))


@dead_letters.command("retry")
@click.argument("dead_letter_id")
@config_option
def dead_retry(dead_letter_id: str, config_file: Path | None) -> None:
    """Send a dead letter back to the queue."""
    if not _with_services(config_file, lambda s: s.queue.redrive(dead_letter_id)):
        raise click.ClickException(f"no dead letter {dead_letter_id}")
    click.echo(f"re-queued {dead_letter_id}", err=True)


@dead_letters.command("drop")
@click.argument("dead_letter_id")
@config_option
def dead_drop(dead_letter_id: str, config_file: Path | None) -> None:
    """Discard a dead letter for good."""
    if not _with_services(config_file, lambda s: s.queue.drop(dead_letter_id)):
        raise click.ClickException(f"no dead letter {dead_letter_id}")
    click.echo(f"dropped {dead_letter_id}", err=True)
