"""``exchange keys`` and ``exchange submit``: what a national system runs on its side."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import click
from tqdm import tqdm

from exchange.cli.common import signing_options
from exchange.client import (
    ClientError,
    SubmissionClient,
    SubmissionFileError,
    build_payload,
    endorse_payload,
    payload_from_file,
    sign,
)
from exchange.envelope import SigningKey
from exchange.identifiers import is_kid, parse_record_key, participant_of_kid, record_key
from exchange.models import KINDS
from exchange.transport import TransportError

EXIT_REJECTED = 1
EXIT_FAILED = 3


def _user_keys() -> Path:
    """The per-user key folder: private keys belong to a person or a system account, not to a checkout."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "exchange" / "keys"


@click.group()
def keys() -> None:
    """Signing keys on the submitter's side."""


@keys.command("generate")
@click.option("--kid", required=True, help="Key id <participant>/<label>, e.g. EST/2026-01.")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write to (default: a folder of your own, $XDG_CONFIG_HOME/exchange/keys or "
    "~/.config/exchange/keys, created with mode 0700, outside any checkout).",
)
@click.option("--alg", type=click.Choice(["Ed25519", "ES256"]), default="Ed25519", show_default=True)
def generate(kid: str, out: Path | None, alg: str) -> None:
    """Make a key pair: private key PEM (mode 0600), public key as PEM and JWK.

    Send the public files to the repository's administrators; keep the private key secret.
    """
    if not is_kid(kid):
        raise click.BadParameter("a key id is <participant>/<label>, like EST/2026-01", param_hint="--kid")
    key = SigningKey.generate(kid, "Ed25519" if alg == "Ed25519" else "ES256")
    if out is None:
        out = _user_keys()
        click.echo(f"keys written to {out}", err=True)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = kid.replace("/", "_").replace(":", "-")
    private = out / f"{stem}.private.pem"
    if private.exists():
        raise click.ClickException(f"{private} exists; refusing to overwrite a private key")
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_pem())
    (out / f"{stem}.public.pem").write_bytes(key.public_pem())
    jwk = {**key.public_jwk, "kid": kid, "alg": key.alg, "use": "sig"}
    (out / f"{stem}.public.jwk").write_text(json.dumps(jwk, indent=2) + "\n", encoding="utf-8")
    click.echo(f"private key: {private} (keep it secret)", err=True)
    click.echo(f"public key:  {out / f'{stem}.public.pem'} and {out / f'{stem}.public.jwk'}", err=True)
    click.echo(json.dumps(jwk))


@dataclass
class Outcome:
    file: Path
    verdict: str  # accepted | rejected | received | failed
    summary: str
    errors: list[dict[str, Any]] = field(default_factory=list)


def _problem(body: Any) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body), list(body.get("errors") or [])
    return str(body), []


async def _save_receipt(client: SubmissionClient, path: Path, participant: str, submission_id: str) -> str:
    """Write ``FILE.receipt.json`` beside the submitted file; return a note for the summary."""
    status, body = await client.receipt(participant, submission_id)
    if status != 200:
        return f"; no receipt (HTTP {status})"
    target = path.with_name(path.name + ".receipt.json")
    target.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return f"; receipt in {target}"


async def _submit_one(
    client: SubmissionClient,
    path: Path,
    key: SigningKey,
    audience: str,
    options: dict[str, Any],
    wait: float | None,
    receipts: bool = False,
    payload: dict[str, Any] | None = None,
) -> Outcome:
    """Sign and send the record in ``path`` (or ``payload``, already built, with ``path`` as its label)."""
    if payload is None:
        try:
            payload = payload_from_file(path, participant=participant_of_kid(key.kid), audience=audience, **options)
        except SubmissionFileError as exc:
            return Outcome(path, "failed", str(exc))
    prepared = sign(payload, key)
    try:
        status, body = await client.submit(prepared)  # retried as the same bytes, honouring Retry-After
        if status != 202:
            detail, errors = _problem(body)
            return Outcome(
                path,
                "rejected" if 400 <= status < 500 and status != 429 else "failed",
                f"HTTP {status}: {detail}",
                errors,
            )
        owner = payload.get("on_behalf_of") or payload["participant"]
        label = f"{owner}/{payload['kind']}/{payload['record_id']}"
        if wait is None:
            return Outcome(path, "received", f"received {label} as {prepared.submission_id}")
        status, state = await client.wait(prepared.participant, prepared.submission_id, wait)
    except (TransportError, aiohttp.ClientError, TimeoutError) as exc:
        return Outcome(path, "failed", f"cannot reach the repository: {exc}")
    if status != 200:
        detail, _ = _problem(state)
        return Outcome(path, "received", f"received {label}; status unavailable (HTTP {status}: {detail})")
    verdict = state.get("status")
    relay = state.get("relay") if isinstance(state.get("relay"), dict) else {}
    if verdict == "forwarded":  # a relay hub's answer: the upstream received it and decides it
        where = (state.get("links") or {}).get("upstream_status") or relay.get("upstream")
        return Outcome(path, "received", f"forwarded {label} to {relay.get('upstream')}; its status: {where}")
    if verdict == "refused":
        detail, errors = _problem(relay.get("problem"))
        return Outcome(path, "rejected", f"refused by {relay.get('upstream')}: {label}: {detail}", errors)
    note = ""
    if receipts and verdict in ("accepted", "rejected", "pending_review"):
        note = await _save_receipt(client, path, prepared.participant, prepared.submission_id)
    if verdict == "accepted":
        if state.get("unchanged") is True:
            summary = f"unchanged {state['record']}: version {state['version']} already holds it (seq {state['seq']})"
        else:
            summary = f"accepted {state['record']} version {state['version']} (seq {state['seq']})"
        return Outcome(path, "accepted", summary + note)
    if verdict == "rejected":
        return Outcome(path, "rejected", f"rejected {label}{note}", list(state.get("errors") or []))
    if verdict == "pending_review":
        summary = f"held for review {label} (log index {state['log_index']}): published once an editor approves it"
        return Outcome(path, "accepted", summary + note)
    return Outcome(path, "received", f"received {label}; no verdict within {wait:g}s")


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@signing_options
@click.option("--kind", type=click.Choice(KINDS), help="Record kind (default: from the file or its folder).")
@click.option("--record-id", help="Record id (default: from the file, or the file name). One file only.")
@click.option("--action", type=click.Choice(["upsert", "withdraw"]), help="Default: upsert.")
@click.option("--schema", help="Schema id, default KIND/1.")
@click.option("--base-version", type=int, help="Refuse unless this is the record's current version.")
@click.option(
    "--token",
    envvar="EXCHANGE_CLIENT_TOKEN",
    help="Participant API token, to wait for the verdict ($EXCHANGE_CLIENT_TOKEN).",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for each verdict (needs --token).")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for a verdict.")
@click.option("--concurrency", type=int, default=8, show_default=True, help="Submissions in flight at once.")
@click.option(
    "--audience",
    help="The repository origin to sign for (default: the origin of --url); through a relay hub, the upstream's.",
)
@click.option("--receipts", is_flag=True, help="Save each verdict's log receipt beside its file as FILE.receipt.json.")
@click.option(
    "--on-behalf-of",
    help="An editor's entry: the participant (e.g. KEN) whose records these are, signed with your secretariat key.",
)
@click.option(
    "--visibility",
    type=click.Choice(["public", "participants", "restricted"]),
    help="Who may see the versions: everyone (default), anyone with an API token, or the --reader "
    "participants (with the owner, the submitter and the secretariat).",
)
@click.option(
    "--reader",
    "readers",
    multiple=True,
    help="With --visibility restricted: a participant (e.g. EST) who may read the versions (repeatable).",
)
def submit(
    files: tuple[Path, ...],
    url: str,
    kid: str,
    key_file: Path,
    kind: str | None,
    record_id: str | None,
    action: str | None,
    schema: str | None,
    base_version: int | None,
    token: str | None,
    wait: bool,
    timeout: float,
    concurrency: int,
    audience: str | None,
    receipts: bool,
    on_behalf_of: str | None,
    visibility: str | None,
    readers: tuple[str, ...],
) -> None:
    """Sign FILES (JSON records) and submit them; print each verdict.

    A withdrawal needs no file: `--action withdraw --kind law --record-id ID`. An editor (a
    secretariat's key) enters records for a participant with no signing system with `--on-behalf-of`.

    Exit status: 0 all accepted (or received, without waiting), 1 some rejected, 3 some failed to
    be delivered or decided.
    """
    withdrawal = None
    if readers and visibility != "restricted":
        raise click.BadParameter("readers are named for --visibility restricted", param_hint="--reader")
    if not files:
        if action != "withdraw" or not kind or not record_id:
            raise click.UsageError("give FILES to submit, or --action withdraw with --kind and --record-id")
        if receipts:
            raise click.UsageError("--receipts saves beside each file; a withdrawal without a file has none")
        withdrawal = Path(record_key(on_behalf_of or participant_of_kid(kid), kind, record_id))
    if record_id and len(files) > 1:
        raise click.BadParameter("--record-id names one record; give one file", param_hint="--record-id")
    try:
        key = SigningKey.from_file(kid, key_file)
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"cannot read the private key {key_file}: {exc}") from None
    options = {
        "kind": kind,
        "record_id": record_id,
        "action": action,
        "schema": schema,
        "base_version": base_version,
        "on_behalf_of": on_behalf_of,
        "visibility": visibility,
        "readers": readers,
    }
    if wait and not token:
        click.echo("note: without --token the verdict cannot be read; submitting without waiting", err=True)
    waiting = timeout if wait and token else None

    async def main() -> list[Outcome]:
        async with SubmissionClient(url, token) as client:
            signed_for = audience or (await client.info())["origin"]
            gate = asyncio.Semaphore(max(1, concurrency))
            bar = tqdm(
                total=len(files), unit="file", disable=len(files) < 2 or not sys.stderr.isatty(), file=sys.stderr
            )

            async def one(path: Path) -> Outcome:
                async with gate:
                    outcome = await _submit_one(client, path, key, signed_for, options, waiting, receipts)
                bar.update()
                return outcome

            if withdrawal is not None:
                payload = build_payload(
                    participant=participant_of_kid(kid),
                    audience=signed_for,
                    kind=str(kind),
                    record_id=str(record_id),
                    action="withdraw",
                    base_version=base_version,
                    on_behalf_of=on_behalf_of,
                    visibility=visibility,
                    readers=readers,
                )
                return [await _submit_one(client, withdrawal, key, signed_for, options, waiting, payload=payload)]

            try:
                return await asyncio.gather(*(one(p) for p in files))
            finally:
                bar.close()

    try:
        outcomes = asyncio.run(main())
    except (TransportError, aiohttp.ClientError, ClientError, TimeoutError) as exc:
        click.echo(f"error: cannot use the repository at {url}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    for outcome in outcomes:
        click.echo(f"{outcome.file}: {outcome.summary}")
        for error in outcome.errors:
            click.echo(f"    {error.get('pointer') or '/'}: {error.get('message')} [{error.get('rule')}]")
    verdicts = {o.verdict for o in outcomes}
    sys.exit(EXIT_FAILED if "failed" in verdicts else EXIT_REJECTED if "rejected" in verdicts else 0)


@click.command()
@click.argument("record")
@click.option("--version", "number", type=int, required=True, help="The version to endorse.")
@signing_options
@click.option("--token", envvar="EXCHANGE_CLIENT_TOKEN", help="Participant API token, to wait for the verdict.")
def endorse(record: str, number: int, url: str, kid: str, key_file: Path, token: str | None) -> None:
    """Sign your endorsement of RECORD (<participant>/<kind>/<record_id>) at --version: a version an
    editor entered on your behalf becomes one you signed too (shown in its provenance, logged).

    Exit status: 0 endorsed (or sent, without --token), 1 refused, 3 not delivered.
    """
    try:
        participant, kind, record_id = parse_record_key(record)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="RECORD") from None
    if participant != participant_of_kid(kid):
        raise click.BadParameter(f"{kid} is not a key of {participant}, whose record it is", param_hint="--kid")
    try:
        key = SigningKey.from_file(kid, key_file)
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"cannot read the private key {key_file}: {exc}") from None

    async def main() -> tuple[int, Any]:
        async with SubmissionClient(url, token) as client:
            status, version = await client.get_json(f"/v1/records/{record}/versions/{number}")
            if status != 200:
                return status, version
            payload = endorse_payload(
                participant=participant,
                audience=(await client.info())["origin"],
                kind=kind,
                record_id=record_id,
                version=number,
                jws_sha256=version["provenance"]["jws_sha256"],
            )
            prepared = sign(payload, key)
            status, ack = await client.submit(prepared)
            if status != 202 or not token:
                return status, ack
            return await client.wait(prepared.participant, prepared.submission_id)

    try:
        status, body = asyncio.run(main())
    except (TransportError, aiohttp.ClientError, ClientError, TimeoutError) as exc:
        click.echo(f"error: cannot use the repository at {url}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if status == 202:
        click.echo(f"sent the endorsement of {record} version {number}; give --token to wait for the verdict")
        return
    if status == 200 and body.get("status") == "accepted":
        click.echo(f"endorsed {record} version {number}; logged at index {body['log_index']}")
        return
    detail, errors = (
        _problem(body) if status != 200 else (f"the endorsement was {body.get('status')}", body.get("errors") or [])
    )
    click.echo(f"error: {detail}", err=True)
    for error in errors:
        click.echo(f"    {error.get('pointer') or '/'}: {error.get('message')} [{error.get('rule')}]", err=True)
    sys.exit(EXIT_REJECTED if status < 500 else EXIT_FAILED)
