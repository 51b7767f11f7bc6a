"""``exchange import``, ``exchange outbox`` and ``exchange connect``: the connectors of a national system.

The composition root for :mod:`connectors`, loaded only by these commands. Each importer checks its
records locally first; ``--dry-run`` stops there and prints them. Otherwise the records go through the
durable outbox (batch endpoint, retries, exactly once, in order per record).

Exit status, as for ``exchange submit``: 0 all accepted (or all valid, with ``--dry-run``), 1 some
invalid or rejected, 3 some not delivered (they stay in the outbox: ``exchange outbox flush``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

DEFAULT_OUTBOX = "exchange-outbox.sqlite3"
F = TypeVar("F", bound=Callable[..., Any])


def _target_options(func: F) -> F:
    options = [
        click.option("--url", envvar="EXCHANGE_CLIENT_URL", help="Repository URL ($EXCHANGE_CLIENT_URL)."),
        click.option(
            "--kid", envvar="EXCHANGE_CLIENT_KID", help="Your key id, e.g. GBR/2026-01 ($EXCHANGE_CLIENT_KID)."
        ),
        click.option(
            "--key",
            "key_file",
            envvar="EXCHANGE_CLIENT_KEY",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Your private key, PEM ($EXCHANGE_CLIENT_KEY).",
        ),
        click.option(
            "--token",
            envvar="EXCHANGE_CLIENT_TOKEN",
            help="Participant API token, to read verdicts ($EXCHANGE_CLIENT_TOKEN).",
        ),
        click.option(
            "--outbox",
            "outbox_path",
            envvar="EXCHANGE_CLIENT_OUTBOX",
            type=click.Path(dir_okay=False, path_type=Path),
            default=DEFAULT_OUTBOX,
            show_default=True,
            help="The outbox file ($EXCHANGE_CLIENT_OUTBOX).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _import_options(func: F) -> F:
    options = [
        click.option("--dry-run", is_flag=True, help="Check locally and print the records; send nothing."),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Write the records as submission files into this folder for review, instead of sending.",
        ),
        click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for verdicts."),
        click.option("-q", "--quiet", is_flag=True, help="Leave out informational notes."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _target(url: str | None, kid: str | None, key_file: Path | None, token: str | None, outbox: Path) -> Any:
    from connectors.delivery import Target

    return Target(url, kid, key_file, token, outbox)


def _run(main: Callable[[], Coroutine[Any, Any, int]]) -> None:
    from connectors.delivery import EXIT_INVALID
    from connectors.model import ImportFailure

    try:
        code = asyncio.run(main())
    except ImportFailure as exc:
        click.echo(f"error: {exc}", err=True)
        code = EXIT_INVALID
    sys.exit(code)


def _retry() -> Any:
    """The SDK's retry policy; ``$EXCHANGE_CLIENT_RETRIES`` sets the number of attempts (default 4)."""
    import os

    from connectors.sdk import RetryPolicy

    try:
        attempts = max(1, int(os.environ.get("EXCHANGE_CLIENT_RETRIES", "4")))
    except ValueError:
        raise click.UsageError("EXCHANGE_CLIENT_RETRIES must be a whole number") from None
    return RetryPolicy(attempts=attempts, base_delay=0.5, max_delay=10.0)


def _client(target: Any, *, need_key: bool = True) -> Any:
    from connectors.sdk import ExchangeClient
    from exchange.envelope import SigningKey

    if not target.url:
        raise click.UsageError("give the repository URL (--url or $EXCHANGE_CLIENT_URL)")
    key = None
    if need_key:
        if not target.kid or not target.key_file:
            raise click.UsageError("give your key id and private key (--kid and --key) to sign")
        try:
            key = SigningKey.from_file(target.kid, target.key_file)
        except (ValueError, TypeError, OSError) as exc:
            raise click.ClickException(f"cannot read the private key {target.key_file}: {exc}") from None
    return ExchangeClient(target.url, token=target.token, key=key, retry=_retry())


def _participant(kid: str | None) -> str | None:
    from connectors.local import participant_of

    if kid is None:
        return None
    try:
        return participant_of(kid)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--kid") from None


def _output() -> Any:
    from connectors.delivery import Output

    return Output(out=click.echo, err=lambda line: click.echo(line, err=True))


async def _deliver(
    report: Any,
    target: Any,
    *,
    dry_run: bool,
    out_dir: Path | None,
    timeout: float,
    quiet: bool,
    validated: bool = False,
) -> int:
    """Check, then print, write or send the records of an import report; return the exit status."""
    from connectors.delivery import deliver

    _participant(target.kid)  # a malformed --kid is a usage error before anything else
    client = _client(target) if not dry_run and out_dir is None else None
    async with contextlib.AsyncExitStack() as stack:
        if client is not None:
            await stack.enter_async_context(client)
        return await deliver(
            report,
            target,
            client,
            _output(),
            dry_run=dry_run,
            out_dir=out_dir,
            timeout=timeout,
            quiet=quiet,
            validated=validated,
        )


def _preview(records: list[Any], where: str, *, quiet: bool) -> int:
    from connectors.delivery import preview

    return preview(records, where, _output(), quiet=quiet)


def _entry_record(entry: Any) -> Any:
    from connectors.delivery import entry_record

    return entry_record(entry)


# --- exchange import --------------------------------------------------------------------------------


@click.group("import")
def import_group() -> None:
    """Import laws and cases from Akoma Ntoso, Atom feeds or CSV, then submit them."""


@import_group.command("akn")
@click.argument("location")
@_target_options
@_import_options
@click.option("--jurisdiction", help="ISO 3166-1 alpha-3 code, when FRBRcountry is missing or wrong.")
@click.option("--record-id", help="Record id (default: from the FRBR work URI).")
@click.option("--status", help="The law's status, when the lifecycle does not tell it right.")
@click.option("--stage", help="A judgment's stage (first_instance, appeal, final_appeal, …), when unclear.")
@click.option(
    "--provision-text",
    type=click.Choice(["extract", "full", "none"]),
    default="extract",
    show_default=True,
    help="How much of each provision's text to keep.",
)
def import_akn_command(
    location: str,
    url: str | None,
    kid: str | None,
    key_file: Path | None,
    token: str | None,
    outbox_path: Path,
    dry_run: bool,
    out_dir: Path | None,
    timeout: float,
    quiet: bool,
    jurisdiction: str | None,
    record_id: str | None,
    status: str | None,
    stage: str | None,
    provision_text: str,
) -> None:
    """Map an Akoma Ntoso act (to a law) or judgment (to a case) from FILE or URL, and submit it.

    Reads AKN 3.0 and the older WD17 namespace; prints what it could not map.
    """
    from connectors.akn import AknOptions, import_akn
    from connectors.model import ImportReport
    from connectors.sources import load

    options = AknOptions(
        jurisdiction=jurisdiction, record_id=record_id, status=status, stage=stage, provision_text=provision_text
    )
    target = _target(url, kid, key_file, token, outbox_path)

    async def main() -> int:
        loaded = await load(location, accept="application/akn+xml, application/xml")
        imported = import_akn(loaded.data, source=loaded.label, url=loaded.url, options=options)
        report = ImportReport(loaded.label, [imported])
        return await _deliver(report, target, dry_run=dry_run, out_dir=out_dir, timeout=timeout, quiet=quiet)

    _run(main)


@import_group.command("atom")
@click.argument("location")
@_target_options
@_import_options
@click.option("--match", "words", multiple=True, help="Keep entries with any of these words (comma-separated).")
@click.option("--jurisdiction", help="Plain Atom: the ISO 3166-1 alpha-3 code of the feed's laws.")
@click.option("--lang", help="Plain Atom: the language of titles, when the feed has no xml:lang.")
@click.option("--document-type", help="Plain Atom: the document type (act, decree, regulation, …).")
@click.option("--status", help="The status to give the drafts (default adopted_not_in_force, or the AKN's).")
@click.option("--max-pages", type=int, default=10, show_default=True, help="Most feed pages to read.")
@click.option("--akn/--no-akn", default=True, show_default=True, help="Fetch full texts from AKN links.")
def import_atom_command(
    location: str,
    url: str | None,
    kid: str | None,
    key_file: Path | None,
    token: str | None,
    outbox_path: Path,
    dry_run: bool,
    out_dir: Path | None,
    timeout: float,
    quiet: bool,
    words: tuple[str, ...],
    jurisdiction: str | None,
    lang: str | None,
    document_type: str | None,
    status: str | None,
    max_pages: int,
    akn: bool,
) -> None:
    """Prepare draft law submissions from a gazette's Atom feed (URL or FILE), following its pages.

    legislation.gov.uk feeds are read with their metadata; other Atom feeds need --jurisdiction.
    """
    from connectors.atom import AtomOptions, import_atom

    match = tuple(w.strip() for group in words for w in group.split(",") if w.strip())
    options = AtomOptions(
        match=match,
        jurisdiction=jurisdiction,
        lang=lang,
        document_type=document_type,
        status=status,
        max_pages=max_pages,
        follow_akn=akn,
    )
    target = _target(url, kid, key_file, token, outbox_path)

    async def main() -> int:
        report = await import_atom(location, options=options)
        return await _deliver(report, target, dry_run=dry_run, out_dir=out_dir, timeout=timeout, quiet=quiet)

    _run(main)


@import_group.command("csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_target_options
@_import_options
def import_csv_command(
    file: Path,
    url: str | None,
    kid: str | None,
    key_file: Path | None,
    token: str | None,
    outbox_path: Path,
    dry_run: bool,
    out_dir: Path | None,
    timeout: float,
    quiet: bool,
) -> None:
    """Import laws from a CSV file (one row per law, optional provision rows; see docs/csv-template.md).

    Every country, vocabulary term and value is checked; errors name their line and column.
    """
    from connectors.csv_import import import_csv
    from connectors.local import scope_for
    from connectors.sources import read_file

    target = _target(url, kid, key_file, token, outbox_path)

    async def main() -> int:
        loaded = read_file(file)
        participant = _participant(kid)
        # laws come from States only, whose scope is their own jurisdiction
        scope = scope_for(participant) if participant else None
        report = import_csv(loaded.data, source=loaded.label, scope=scope)
        return await _deliver(
            report, target, dry_run=dry_run, out_dir=out_dir, timeout=timeout, quiet=quiet, validated=True
        )

    _run(main)


# --- exchange outbox --------------------------------------------------------------------------------


@click.group("outbox")
def outbox_group() -> None:
    """The local outbox: submissions waiting for the repository."""


@outbox_group.command("status")
@click.option(
    "--outbox",
    "outbox_path",
    envvar="EXCHANGE_CLIENT_OUTBOX",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTBOX,
    show_default=True,
    help="The outbox file ($EXCHANGE_CLIENT_OUTBOX).",
)
@click.option("--all", "show_all", is_flag=True, help="List decided entries too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def outbox_status(outbox_path: Path, show_all: bool, as_json: bool) -> None:
    """Count the outbox's entries by state and list those still waiting (pending, received, held)."""
    from connectors.outbox import OPEN_STATES, STATES, Outbox
    from connectors.watch_status import counts_line

    if not outbox_path.exists():
        raise click.ClickException(f"no outbox at {outbox_path}")
    with Outbox(outbox_path) as outbox:
        counts = outbox.counts()
        entries = outbox.entries(STATES if show_all else OPEN_STATES)
    if as_json:
        click.echo(json.dumps({"counts": counts, "entries": [e.as_dict() for e in entries]}, indent=2))
        return
    click.echo(counts_line(counts))
    for entry in entries:
        detail = f" ({entry.detail})" if entry.detail else ""
        click.echo(f"{entry.seq:>6} {entry.state:<9} {entry.label} {entry.submission_id}{detail}")


@outbox_group.command("flush")
@_target_options
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for verdicts.")
@click.option("--dry-run", is_flag=True, help="Check and print what waits to be sent; send nothing.")
def outbox_flush(
    url: str | None,
    kid: str | None,
    key_file: Path | None,
    token: str | None,
    outbox_path: Path,
    timeout: float,
    dry_run: bool,
) -> None:
    """Send what waits in the outbox, in order per record; with --token, wait for the verdicts.

    Exit 0 when nothing is left waiting, 3 when the repository was unreachable (nothing is lost).
    """
    from connectors.outbox import Outbox

    target = _target(url, kid, key_file, token, outbox_path)
    if not outbox_path.exists():
        raise click.ClickException(f"no outbox at {outbox_path}")
    if dry_run:
        with Outbox(outbox_path) as outbox:
            pending = outbox.entries(("pending",))
        sys.exit(_preview([_entry_record(e) for e in pending], "waiting in the outbox", quiet=False))

    async def main() -> int:
        from connectors.delivery import report_flush

        async with _client(target) as client:
            with Outbox(outbox_path) as outbox:
                report = await outbox.flush(client, wait=timeout if token else 0.0)
        return report_flush(report, waited=bool(token), output=_output())

    _run(main)


@outbox_group.command("retry")
@click.option(
    "--outbox",
    "outbox_path",
    envvar="EXCHANGE_CLIENT_OUTBOX",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTBOX,
    show_default=True,
    help="The outbox file ($EXCHANGE_CLIENT_OUTBOX).",
)
def outbox_retry(outbox_path: Path) -> None:
    """Put refused entries back in the queue (once their cause, such as an unregistered key, is fixed)."""
    from connectors.outbox import Outbox

    with Outbox(outbox_path) as outbox:
        click.echo(f"{outbox.retry_refused()} entr(ies) queued again")


# --- exchange connect -------------------------------------------------------------------------------


@click.group("connect")
def connect_group() -> None:
    """Keep a folder synchronised with the repository."""


@connect_group.command("watch")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_target_options
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between scans.")
@click.option("--settle", type=float, default=1.0, show_default=True, help="Seconds a file must be unchanged.")
@click.option("--once", is_flag=True, help="Process what is there, wait for the verdicts, then exit.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="With --once: seconds to wait.")
@click.option("--dry-run", is_flag=True, help="Check and print what the files now there hold; move and send nothing.")
@click.option("--status", "show_status", is_flag=True, help="Count what the folder's outbox holds by state, then exit.")
def watch(
    folder: Path,
    url: str | None,
    kid: str | None,
    key_file: Path | None,
    token: str | None,
    outbox_path: Path,
    interval: float,
    settle: float,
    once: bool,
    timeout: float,
    dry_run: bool,
    show_status: bool,
) -> None:
    """Sign and submit every JSON, CSV or Akoma Ntoso file dropped into FOLDER.

    Each file then moves to FOLDER/done/ or FOLDER/rejected/ with FILE.verdict.json beside it. The
    outbox defaults to FOLDER/.outbox.sqlite3. Needs --token to read verdicts. Stop with Ctrl-C.
    """
    from connectors.delivery import watch_status
    from connectors.local import scope_for
    from connectors.outbox import Outbox
    from connectors.pipeline import remote_scope
    from connectors.watch_status import counts_line, outbox_counts, watch_outbox
    from connectors.watcher import Watcher, preview

    path = watch_outbox(folder, outbox_path, Path(DEFAULT_OUTBOX))
    if show_status:
        click.echo(counts_line(outbox_counts(path)))
        return
    if dry_run:
        participant = _participant(kid)
        records = preview(folder, scope_for(participant) if participant else None)
        sys.exit(_preview(records, f"in {folder}", quiet=False))
    if not token:
        raise click.UsageError("the watcher reads each verdict: give a participant token (--token)")
    target = _target(url, kid, key_file, token, outbox_path)

    def log(message: str) -> None:
        click.echo(message, err=True)

    async def main() -> int:
        async with _client(target) as client:
            scope = await remote_scope(client, client.participant)
            with Outbox(path) as outbox:
                watcher = Watcher(folder, client, outbox, scope, settle=settle, log=log)
                if once:
                    await watcher.once(timeout)
                    return watch_status(watcher)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, stop.set)
                log(f"watching {folder} (Ctrl-C to stop)")
                await watcher.run(stop, interval)
                return 0

    _run(main)


COMMANDS = (import_group, outbox_group, connect_group)
