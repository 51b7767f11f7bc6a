"""``exchange admin``: the registry and dead letters, on the configured database or a running server.

Without ``--url`` every command acts on the database the settings name, through the same core
functions as the admin API; with ``--url`` (and an admin token) it calls that server's admin API.
Both print the same lines, built from the JSON form the API answers with.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click

from exchange import admin as registry
from exchange import times
from exchange.cli.common import config_option, run, settings_from
from exchange.models import PARTICIPANT_TYPES, ROLES, RecordQuery
from exchange.repository.common import redact
from exchange.services import Services, open_services
from exchange.transport import Transport, TransportError
from exchange.visibility import EVERYTHING

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


def _act(
    config_file: Path | None,
    local: Callable[[Services], Awaitable[T]],
    remote: Callable[[Transport], Awaitable[T]],
) -> T:
    """Run ``local`` on the configured database, or ``remote`` against the server of ``--url``."""
    options = click.get_current_context().obj or {}
    url = options.get("url")
    if not url:
        return _with_services(config_file, local)
    click.echo(f"server: {url}", err=True)

    async def main() -> T:
        try:
            async with Transport(url, token=options.get("token")) as transport:
                return await remote(transport)
        except TransportError as exc:
            raise click.ClickException(f"cannot use the server at {url}: {exc}") from None

    return run(main)


async def _call(
    transport: Transport, method: str, path: str, body: dict[str, Any] | None = None, expect: int = 200
) -> Any:
    """One admin API call; a problem answer becomes a readable error naming every fault."""
    answer = await transport.request(
        method,
        path,
        data=json.dumps(body).encode() if body is not None else None,
        content_type="application/json" if body is not None else None,
    )
    if answer.status != expect:
        problem = answer.problem
        lines = [f"the server answered {answer.status}: {problem.message}"]
        lines += [f"  {e.get('pointer') or '/'}: {e.get('message')} [{e.get('rule')}]" for e in problem.errors]
        raise click.ClickException("\n".join(lines))
    return answer.body


async def _found(transport: Transport, method: str, path: str) -> bool:
    """A call that answers 204 when done and 404 when there was nothing to act on."""
    answer = await transport.request(method, path)
    if answer.status not in (204, 404):
        raise click.ClickException(f"the server answered {answer.status}: {answer.problem.message}")
    return answer.status == 204


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
@click.option(
    "--url", envvar="EXCHANGE_ADMIN_URL", help="Administer this running server through its admin API instead."
)
@click.option("--token", envvar="EXCHANGE_ADMIN_TOKEN", help="With --url: an admin API token ($EXCHANGE_ADMIN_TOKEN).")
@click.pass_context
def admin(ctx: click.Context, init: bool, url: str | None, token: str | None) -> None:
    """Administer participants, keys, API tokens and dead letters.

    Acts on the database the settings name (it says which on standard error), and refuses an
    embedded one that does not exist yet unless --init is given; or, with --url and an admin token,
    on a running server through its admin API.
    """
    if url and not token:
        raise click.UsageError("--url needs an admin token (--token or $EXCHANGE_ADMIN_TOKEN)")
    ctx.ensure_object(dict).update(init=init, url=url, token=token)


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
    """Register PARTICIPANT_ID: a State's ISO 3166-1 alpha-3 code (EST) or org:<slug> (org:coe).

    A participant registered already with the same type is left as it is (exit 0, with a note), so
    that a set-up script can run again; another type is refused.
    """

    async def local(s: Services) -> Any:
        existing = await s.repository.get_participant(participant_id)
        if existing is not None:
            return existing.as_dict()
        added = await registry.add_participant(
            s.repository, s.validator, participant_id, name, type_, list(jurisdictions)
        )
        return added.as_dict()

    async def remote(t: Transport) -> Any:
        listed = await _call(t, "GET", "/v1/participants")
        for existing in listed.get("participants") or []:
            if existing.get("id") == participant_id:
                return existing
        body = {"id": participant_id, "name": name, "type": type_, "jurisdictions": list(jurisdictions)}
        return await _call(t, "POST", "/v1/admin/participants", body, expect=201)

    added = _act(config_file, local, remote)
    if added.get("type") != type_:
        raise click.ClickException(f"{participant_id} is registered already as {added.get('type')}, not {type_}")
    if added.get("name") != name.strip() or sorted(added.get("jurisdictions") or []) != sorted(set(jurisdictions)):
        click.echo(f"{participant_id} is registered already (as {added.get('name')!r}): nothing changed", err=True)
    click.echo(json.dumps(added, indent=2))


@participant.command("list")
@config_option
def participant_list(config_file: Path | None) -> None:
    """List registered participants."""

    async def local(s: Services) -> Any:
        return [p.as_dict() for p in await s.repository.list_participants()]

    async def remote(t: Transport) -> Any:
        return (await _call(t, "GET", "/v1/participants"))["participants"]

    for p in _act(config_file, local, remote):
        click.echo(f"{p['id']:<20} {p['type']:<32} {p['name']}  [{' '.join(p['jurisdictions'])}]")


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
    material = public_key.read_bytes()

    async def local(s: Services) -> Any:
        added, index = await registry.add_key(s.repository, kid, material, start, end)
        return {**added.to_jwk(), "log_index": index}

    body: dict[str, Any] = {"kid": kid, "valid_from": valid_from, "valid_until": valid_until}
    try:
        jwk = json.loads(material)
    except ValueError:
        jwk = None
    body.update({"jwk": jwk} if isinstance(jwk, dict) else {"public_key": material.decode("utf-8", "replace")})
    body = {k: v for k, v in body.items() if v is not None}
    added = _act(config_file, local, lambda t: _call(t, "POST", "/v1/admin/keys", body, expect=201))
    click.echo(json.dumps(added, indent=2))


@key.command("revoke")
@click.argument("kid")
@click.option("--reason", required=True, help="Why (kept in the registry and the log).")
@config_option
def key_revoke(kid: str, reason: str, config_file: Path | None) -> None:
    """Revoke key KID from now on; submissions received before stay valid."""

    async def local(s: Services) -> Any:
        revoked, index = await registry.revoke_key(s.repository, kid, reason)
        return {**revoked.to_jwk(), "log_index": index}

    owner, _, label = kid.partition("/")
    path = f"/v1/admin/keys/{quote(owner, safe='')}/{quote(label, safe='')}/revoke"
    revoked = _act(config_file, local, lambda t: _call(t, "POST", path, {"reason": reason}))
    click.echo(json.dumps(revoked, indent=2))


@key.command("list")
@click.option("--participant", help="Only this participant's keys.")
@config_option
def key_list(participant: str | None, config_file: Path | None) -> None:
    """List registered keys with their status."""

    async def local(s: Services) -> Any:
        return [k.to_jwk() for k in await s.repository.list_keys(participant)]

    async def remote(t: Transport) -> Any:
        query = f"?participant={quote(participant, safe='')}" if participant else ""
        return (await _call(t, "GET", f"/v1/keys{query}"))["keys"]

    for k in _act(config_file, local, remote):
        status = f"revoked {k['revoked_at']}" if k.get("revoked_at") else "active"
        until = k.get("valid_until") or "-"
        click.echo(f"{k['kid']:<28} {k['alg']:<8} {status:<40} from {k['valid_from']} until {until}")


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

    async def local(s: Services) -> Any:
        secret, info = await registry.create_token(s.repository, role, participant, label, until)
        return {**info.as_dict(), "token": secret}

    body = {"role": role, "participant": participant, "label": label, "expires_at": times.iso(until) if until else None}
    body = {k: v for k, v in body.items() if v is not None}
    created = _act(config_file, local, lambda t: _call(t, "POST", "/v1/admin/tokens", body, expect=201))
    click.echo(f"created {created['role']} token {created['id']}; it is shown only now", err=True)
    click.echo(created["token"])


@token.command("list")
@config_option
def token_list(config_file: Path | None) -> None:
    """List tokens (ids and roles, never secrets)."""

    async def local(s: Services) -> Any:
        return [t.as_dict() for t in await s.repository.list_tokens()]

    async def remote(t: Transport) -> Any:
        return (await _call(t, "GET", "/v1/admin/tokens"))["tokens"]

    for t in _act(config_file, local, remote):
        revoked, expires = t.get("revoked_at"), t.get("expires_at")
        state = f"revoked {revoked}" if revoked else f"expires {expires}" if expires else "active"
        click.echo(
            f"{t['id']:<18} {t['role']:<12} {t.get('participant') or '-':<16} {state:<10} {t.get('label') or ''}"
        )


@token.command("revoke")
@click.argument("token_id")
@config_option
def token_revoke(token_id: str, config_file: Path | None) -> None:
    """Revoke token TOKEN_ID (from `exchange admin token list`)."""

    async def local(s: Services) -> bool:
        return await s.repository.revoke_token(token_id, times.iso(times.now()))

    done = _act(config_file, local, lambda t: _found(t, "DELETE", f"/v1/admin/tokens/{quote(token_id, safe='')}"))
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

    async def local(s: Services) -> Any:
        return [d.as_dict() for d in await s.queue.list_dead_letters(1000)]

    async def remote(t: Transport) -> Any:
        return (await _call(t, "GET", "/v1/admin/dead-letters"))["dead_letters"]

    for d in _act(config_file, local, remote):
        click.echo(json.dumps(d))


@dead_letters.command("retry")
@click.argument("dead_letter_id")
@config_option
def dead_retry(dead_letter_id: str, config_file: Path | None) -> None:
    """Send a dead letter back to the queue."""
    path = f"/v1/admin/dead-letters/{quote(dead_letter_id, safe='')}/retry"
    if not _act(config_file, lambda s: s.queue.redrive(dead_letter_id), lambda t: _found(t, "POST", path)):
        raise click.ClickException(f"no dead letter {dead_letter_id}")
    click.echo(f"re-queued {dead_letter_id}", err=True)


@dead_letters.command("drop")
@click.argument("dead_letter_id")
@config_option
def dead_drop(dead_letter_id: str, config_file: Path | None) -> None:
    """Discard a dead letter for good."""
    path = f"/v1/admin/dead-letters/{quote(dead_letter_id, safe='')}"
    if not _act(config_file, lambda s: s.queue.drop(dead_letter_id), lambda t: _found(t, "DELETE", path)):
        raise click.ClickException(f"no dead letter {dead_letter_id}")
    click.echo(f"dropped {dead_letter_id}", err=True)


@admin.command("reindex")
@config_option
def reindex(config_file: Path | None) -> None:
    """Index every current record again from its content.

    Run it once after an upgrade that indexes more than the version that stored the records (finding
    records by convention article, refusing duplicate document identifiers, accepting re-sent content
    as unchanged): records stored before are otherwise indexed anew only at their next version. It
    works on the repository's database (not over --url), while the service runs; a record that gains a
    version meanwhile keeps the index its new version brought.
    """
    if (click.get_current_context().obj or {}).get("url"):
        raise click.UsageError("reindex works on the repository's database: run it where the service keeps its data")

    async def local(services: Services) -> tuple[int, int]:
        total = (await services.repository.count_records(RecordQuery(viewer=EVERYTHING))).total
        with click.progressbar(
            length=total, label="reindexing", file=sys.stderr, show_pos=True, hidden=not sys.stderr.isatty()
        ) as bar:
            return await registry.reindex(services.repository, services.validator, bar.update)

    read, rewritten = _with_services(config_file, local)
    click.echo(f"reindexed {rewritten} of {read} current record(s)", err=True)
