"""``exchange verify`` and ``exchange audit export``: the auditor's side, which trusts nothing unchecked."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import click

from exchange.auditor.fetch import download
from exchange.auditor.receipt import ReceiptError, verify_receipt
from exchange.auditor.run import verify_directory
from exchange.auditor.source import SourceError
from exchange.cli.common import Quorum, quorum_options
from exchange.transport import TransportError

EXIT_FAILED = 1
EXIT_UNREACHABLE = 3


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _fetch(url: str, out: Path, token: str | None, progress: bool) -> None:
    try:
        asyncio.run(download(url, out, token, progress=progress))
    except TransportError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)


def _verify_directory(directory: Path, label: str, progress: bool, quorum: Quorum) -> None:
    try:
        report = verify_directory(directory, progress=progress, witnesses=quorum.witnesses, quorum=quorum.size)
    except SourceError as exc:
        click.echo(f"error: cannot read the audit directory: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)
    click.echo(report.render(label))
    sys.exit(0 if report.ok else EXIT_FAILED)


def _log_keys(log_keys: tuple[str, ...], info_file: Path | None) -> list[str]:
    keys = list(log_keys)
    if info_file is not None:
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read {info_file}: {exc}", param_hint="--info") from None
        listed = info.get("log_verifier_keys") or [info.get("log_verifier_key")] if isinstance(info, dict) else []
        keys += [k for k in listed if isinstance(k, str)]
    if not keys:
        raise click.UsageError("--receipt needs the log's verifier key: --log-key KEY or --info info.json")
    return keys


def _verify_receipt(receipt: Path, keys: list[str], jws: Path | None, quorum: Quorum) -> None:
    try:
        document = json.loads(receipt.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        click.echo(f"FAILED: {receipt} is not a readable JSON receipt: {exc}")
        sys.exit(EXIT_FAILED)
    try:
        verified = verify_receipt(
            document, keys, jws.read_bytes() if jws else None, witnesses=quorum.witnesses, quorum=quorum.size
        )
    except ReceiptError as exc:
        click.echo(f"FAILED: {receipt}: {exc}")
        sys.exit(EXIT_FAILED)
    click.echo(f"ok: {verified.describe()}")


@click.command()
@click.argument("source", required=False)
@click.option(
    "--token", envvar="EXCHANGE_CLIENT_TOKEN", help="Auditor or admin API token, for a URL ($EXCHANGE_CLIENT_TOKEN)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="With a URL: keep what was downloaded here, as an audit directory (default: a temporary one).",
)
@click.option(
    "--receipt",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify one receipt (or a provenance document holding one) offline, instead of a whole log.",
)
@click.option("--log-key", "log_keys", multiple=True, help="With --receipt: the log verifier key (repeatable).")
@click.option(
    "--info",
    "info_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --receipt: a saved GET /v1/info, whose log verifier keys to trust.",
)
@click.option(
    "--jws",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --receipt: the stored JWS, whose SHA-256 must be the one the entry records.",
)
@quorum_options
@click.option("--quiet", is_flag=True, help="No progress bars.")
def verify(
    source: str | None,
    token: str | None,
    out: Path | None,
    receipt: Path | None,
    log_keys: tuple[str, ...],
    info_file: Path | None,
    jws: Path | None,
    quorum: Quorum,
    quiet: bool,
) -> None:
    """Check a repository's whole history without trusting it.

    SOURCE is the repository's URL (everything is downloaded first, as `exchange audit export` does)
    or an audit directory written by `exchange audit export`. Every checkpoint's signature and the
    consistency between them; every log entry, and the tree rebuilt from them against every signed
    root; every stored JWS against the key directory and its log entry; every key event; and every
    record version against the payload that was signed.

    With --receipt FILE and --log-key KEY (or --info info.json), one receipt is checked alone.

    With --witness VKEY (repeatable) and --quorum N, the newest checkpoint (or the receipt's) must
    also carry valid cosignatures by at least N of those witnesses; each one missing is named.

    Exit status: 0 when everything holds, 1 when anything does not (each failure is named), 3 when
    the repository or the directory cannot be read.
    """
    required = quorum
    if receipt is not None:
        if source is not None:
            raise click.UsageError("give either SOURCE or --receipt, not both")
        _verify_receipt(receipt, _log_keys(log_keys, info_file), jws, required)
        return
    if source is None:
        raise click.UsageError("give a repository URL, an audit directory, or --receipt FILE")
    progress = not quiet
    if not _is_url(source):
        if out is not None:
            raise click.UsageError("--out is for a URL; an audit directory is already on disk")
        _verify_directory(Path(source), source, progress, required)
        return
    if out is not None:
        _fetch(source, out, token, progress)
        _verify_directory(out, source, progress, required)
        return
    with tempfile.TemporaryDirectory(prefix="exchange-audit-") as scratch:
        _fetch(source, Path(scratch), token, progress)
        _verify_directory(Path(scratch), source, progress, required)


@click.group()
def audit() -> None:
    """Auditors' tools: export a repository's history for offline verification."""


@audit.command("export")
@click.argument("url")
@click.option("--token", envvar="EXCHANGE_CLIENT_TOKEN", help="Auditor or admin API token ($EXCHANGE_CLIENT_TOKEN).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory to write.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def export(url: str, token: str | None, out: Path, quiet: bool) -> None:
    """Download an audit directory from the repository at URL; check it later with `exchange verify DIR`.

    It holds the info document, the key directory, every signed checkpoint and the server's proofs
    between them, every log entry under the newest checkpoint, and the NDJSON export of every decided
    submission (with its stored JWS) and every record version. Exit status 3 when the repository
    cannot be read.
    """
    if not _is_url(url):
        raise click.BadParameter("an http:// or https:// URL", param_hint="URL")
    try:
        manifest = asyncio.run(download(url, out, token, progress=not quiet))
    except TransportError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)
    click.echo(
        f"wrote {out}: log size {manifest['signed_size']} under {manifest['checkpoints']} signed checkpoint(s)",
        err=True,
    )
    click.echo(str(out))
