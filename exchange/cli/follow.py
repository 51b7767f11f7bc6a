"""``exchange follow``: keep a verified local copy of a repository's change feed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from pathlib import Path

import click

from exchange import loops
from exchange.cli.common import Quorum, quorum_options

EXIT_OK = 0
EXIT_INCONSISTENT = 1
EXIT_SETUP = 2
EXIT_UNREACHABLE = 3


def _say(message: str) -> None:
    click.echo(message, err=True)


async def _run_until_stopped(main: asyncio.Task[object]) -> None:
    """Await ``main``; SIGINT or SIGTERM cancel it (between writes: a batch is written whole or not at all)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, main.cancel)
    await main


@click.command()
@click.argument("url")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="FILE.ndjson (a journal of changes) or DIR (DIR/changes.ndjson and one JSON file per current record).",
)
@click.option(
    "--mode",
    type=click.Choice(["pull", "sse"]),
    default="sse",
    show_default=True,
    help="Pages of the feed (long-polling once caught up) or its Server-Sent Events stream.",
)
@click.option("--since", type=click.IntRange(min=0), help="Start a new copy after this seq (default 0: everything).")
@click.option("--kind", "kinds", multiple=True, help="Only changes of this kind (repeatable).")
@click.option("--participant", "participants", multiple=True, help="Only changes by this participant (repeatable).")
@click.option(
    "--jurisdiction", "jurisdictions", multiple=True, help="Only changes about this jurisdiction (repeatable)."
)
@click.option("--once", is_flag=True, help="Catch up with the feed, then exit (for cron jobs and tests).")
@click.option(
    "--token",
    envvar="EXCHANGE_CLIENT_TOKEN",
    help="API token, if the repository asks for one ($EXCHANGE_CLIENT_TOKEN).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Attempts, with growing back-off, before the repository counts as unreachable.",
)
@quorum_options
def follow(
    url: str,
    out: Path,
    mode: str,
    since: int | None,
    kinds: tuple[str, ...],
    participants: tuple[str, ...],
    jurisdictions: tuple[str, ...],
    once: bool,
    token: str | None,
    retries: int,
    quorum: Quorum,
) -> None:
    """Keep OUT up to date from the change feed of the repository at URL, verifying every change.

    Each change is kept only once its JWS verifies with the key the key directory lists for the time it
    was received, its signed payload matches the change and its content, and its log entry is included
    in a signed checkpoint consistent with the last one trusted. Without filters seqs must be dense
    (1, 2, 3 …); with filters only their order can be checked. A restart resumes after the last line of
    the journal.

    Exit status: 0 all verified (with --once: caught up; otherwise: stopped by a signal), 1 an
    inconsistency (the seq, record and failed check are printed), 2 the options do not fit the copy or
    it cannot be written, 3 the repository could not be reached after every retry.

    With --witness VKEY (repeatable) and --quorum N, a checkpoint is trusted only once at least N of
    those witnesses have cosigned it; a checkpoint that stays short of the quorum stops the follower
    (exit 1), naming the witnesses whose cosignature is missing or invalid.
    """
    from connectors.follow.follower import FollowOptions, Inconsistency, SetupError, follow
    from connectors.follow.http import RETRY
    from exchange.transport import TransportError

    options = FollowOptions(
        url=url,
        out=out,
        mode="pull" if mode == "pull" else "sse",
        since=since,
        kinds=kinds,
        participants=participants,
        jurisdictions=jurisdictions,
        once=once,
        token=token,
        retry=dataclasses.replace(RETRY, attempts=retries),
        witnesses=quorum.witnesses,
        quorum=quorum.size,
    )

    async def main() -> int:
        task = asyncio.ensure_future(follow(options, _say))
        try:
            await _run_until_stopped(task)
        except asyncio.CancelledError:
            _say("stopped")
            return EXIT_OK
        result = task.result()
        _say(f"up to date at seq {result.last_seq}: {result.written} change(s) verified and written")
        return EXIT_OK

    try:
        code = loops.run(main())
    except Inconsistency as exc:
        _say(f"inconsistency: {exc}")
        _say("stopped at the first inconsistency; nothing after it was written")
        code = EXIT_INCONSISTENT
    except TransportError as exc:
        _say(f"unreachable: {exc}")
        code = EXIT_UNREACHABLE
    except SetupError as exc:
        _say(f"error: {exc}")
        code = EXIT_SETUP
    except OSError as exc:
        _say(f"error: cannot write the local copy: {exc}")
        code = EXIT_SETUP
    sys.exit(code)
