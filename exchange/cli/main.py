"""``exchange``: run the service, its workers and probes; administer; sign and submit."""

from __future__ import annotations

import asyncio
import errno
import json
import signal
import socket
import sys
from pathlib import Path

import click

from exchange import __version__, loops
from exchange.cli.admin import admin
from exchange.cli.common import Quorum, config_option, quorum_options, run, settings_from
from exchange.cli.connect import connect_group, import_group, outbox_group
from exchange.cli.follow import follow
from exchange.cli.review import review
from exchange.cli.submitter import endorse, keys, submit
from exchange.cli.verify import audit, verify
from exchange.errors import ExchangeError
from exchange.gateway.app import Background
from exchange.repository.common import redact
from exchange.settings import Settings, settings_reference


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="exchange")
def cli() -> None:
    """exchange: signed submissions of cybercrime laws, case law and lessons learned.

    Start the embedded service with `exchange serve`; see `exchange COMMAND --help` for each command.
    """


def _serve(settings: Settings, workers: int, config_file: Path | None, extra: tuple[Background, ...] = ()) -> None:
    from aiohttp import web

    from exchange.federation import collector
    from exchange.gateway.app import create_app
    from exchange.jsonlogs import configure
    from exchange.relay import forwarder
    from workers import checkpoint, deliver, supervisor, validate

    configure(settings.log_level, settings.log_format)
    _check_port(settings.host, settings.port)
    background: list[Background] = [checkpoint.run, deliver.run, collector.run, forwarder.run]
    if settings.mirror_of:  # a mirror signs no checkpoint and decides no submission: it copies its upstream's
        background, workers = [deliver.run], 0
    if workers and settings.serve_worker_mode == "process":
        background.append(supervisor.worker_processes(workers, config_file))
    else:
        background += [validate.background] * workers
    app = create_app(settings, background=[*background, *extra])
    click.echo(
        f"exchange {__version__} on http://{settings.host}:{settings.port} "
        f"(origin {settings.public_origin}; {workers} validation worker(s), {settings.serve_worker_mode}; "
        f"data in {settings.data_dir})",
        err=True,
    )
    try:
        web.run_app(
            app, host=settings.host, port=settings.port, print=None, access_log=None, loop=loops.loop_factory()()
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise click.ClickException(_port_in_use(settings.port)) from None


def _port_in_use(port: int) -> str:
    return f"port {port} is in use; choose another with --port (or EXCHANGE_PORT)"


def _check_port(host: str, port: int) -> None:
    """Say in one line that the port is taken, before anything opens (rather than a traceback later)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}: {exc.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise click.ClickException(_port_in_use(port)) from None
                raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@cli.command()
@click.option("--host", help="Listen address (default 127.0.0.1; $EXCHANGE_HOST).")
@click.option("--port", type=int, help="Listen port (default 8080; $EXCHANGE_PORT).")
@click.option("--workers", type=int, help="Validation workers beside the gateway (default 1; $EXCHANGE_SERVE_WORKERS).")
@config_option
def serve(host: str | None, port: int | None, workers: int | None, config_file: Path | None) -> None:
    """Run the whole service in one process: gateway and validation workers on the embedded database."""
    settings = settings_from(config_file, host=host, port=port, serve_workers=workers)
    _serve(settings, settings.serve_workers, config_file)


@cli.command("node-keys")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
@config_option
def node_keys(as_json: bool, config_file: Path | None) -> None:
    """Print this node's public keys, made at first use as `exchange serve` would make them.

    The log verifier key (what witnesses, mirrors and auditors pin: EXCHANGE_WITNESS_LOGS,
    EXCHANGE_MIRROR_LOG_KEY) and the cosigner keys the node signs with as a witness and as a mirror
    (what others require: EXCHANGE_WITNESSES, EXCHANGE_MIRROR_WITNESSES, --witness). Private keys stay
    in their files.
    """
    from exchange.federation.node import witness_signer
    from exchange.servicekeys import log_signers

    settings = settings_from(config_file)
    found = {
        "origin": settings.public_origin,
        "log_verifier_key": log_signers(settings)[0].verifier_key,
        "witness_verifier_key": witness_signer(settings).vkey,
        "mirror_verifier_key": witness_signer(settings, "mirror").vkey,
    }
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for name, value in found.items():
        click.echo(f"{name} {value}")


@cli.command()
@click.argument("url")
@click.option("--host", help="Listen address (default 127.0.0.1; $EXCHANGE_HOST).")
@click.option("--port", type=int, help="Listen port (default 8080; $EXCHANGE_PORT).")
@click.option(
    "--token",
    envvar="EXCHANGE_MIRROR_TOKEN",
    help="API token to read the upstream with ($EXCHANGE_MIRROR_TOKEN; default: its public view).",
)
@click.option("--once", is_flag=True, help="Catch up with the upstream, then exit (for cron jobs and tests).")
@quorum_options
@config_option
def mirror(
    url: str,
    host: str | None,
    port: int | None,
    token: str | None,
    once: bool,
    quorum: Quorum,
    config_file: Path | None,
) -> None:
    """Serve a verified, read-only copy of the repository at URL, following it.

    Every checkpoint, log entry, key and change is verified as `exchange follow` verifies them before
    it is stored (SQLite in the data directory, or EXCHANGE_DATABASE_URL) and served through the same
    read API and portal, each checkpoint with this node's mirror cosignature. A mirror that sees the
    upstream rewrite its history stops following, keeps serving what it verified and says so at
    /readyz and GET /v1/info. Exit status with --once: 0 caught up, 1 the upstream failed a check,
    3 the upstream could not be reached.
    """
    overrides: dict[str, object] = {"host": host, "port": port, "mirror_of": url, "mirror_token": token}
    if quorum.witnesses:
        overrides |= {"mirror_witnesses": quorum.witnesses, "mirror_quorum": quorum.size}
    settings = settings_from(config_file, **overrides)
    if not once:
        _serve(settings, 0, config_file)
        return
    sys.exit(run(lambda: _catch_up(settings)))


async def _catch_up(settings: Settings) -> int:
    from exchange.feedcheck import Inconsistency
    from exchange.services import open_services
    from exchange.transport import TransportError

    async with open_services(settings) as services:
        assert services.mirror is not None
        try:
            await services.mirror.catch_up()
        except Inconsistency as exc:
            click.echo(f"error: the upstream failed a check: {exc}", err=True)
            return 1
        except TransportError as exc:
            click.echo(f"error: cannot read the upstream {settings.mirror_of}: {exc}", err=True)
            return 3
        state = services.mirror.state
        click.echo(f"mirrored {state.upstream}: {state.size} log entries, feed up to seq {state.seq}", err=True)
        return 0


@cli.command()
@click.option("--host", help="Listen address (default 127.0.0.1; $EXCHANGE_HOST).")
@click.option("--port", type=int, help="Listen port (default 8080; $EXCHANGE_PORT).")
@click.option("--url", help="Load into the service running at this URL instead of starting one.")
@click.option(
    "--token", envvar="EXCHANGE_CLIENT_TOKEN", help="With --url: an admin API token ($EXCHANGE_CLIENT_TOKEN)."
)
@click.option(
    "--keys",
    "keys_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo participants' private keys are kept (default: demo-keys in the data directory).",
)
@config_option
def demo(
    host: str | None,
    port: int | None,
    url: str | None,
    token: str | None,
    keys_dir: Path | None,
    config_file: Path | None,
) -> None:
    """Run the service with the demo loaded: real laws of many States, their case law, lessons, needs and
    technical assistance, each signed by its owner and submitted through the API.

    Open the printed address in a browser. Running it again keeps what is there. With --url and --token,
    load the same records into a service that is already running.
    """
    from exchange.cli.demo import demo_job, load_into

    settings = settings_from(config_file, host=host, port=port)
    keys_path = keys_dir or settings.data_dir / "demo-keys"
    if url is not None:
        if not token:
            raise click.UsageError("--url needs --token, an admin API token")
        address, secret = url, token
        sys.exit(run(lambda: load_into(address, secret, keys_path)))
    _serve(settings, settings.serve_workers, config_file, extra=(demo_job(settings, keys_path),))


@cli.command()
@click.option("--from", "start", required=True, help="First day of the period, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last day of the period, YYYY-MM-DD.")
@click.option("--format", "chosen", type=click.Choice(["md", "html", "csv", "json"]), default="md", show_default=True)
@click.option(
    "--url",
    envvar="EXCHANGE_CLIENT_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The repository ($EXCHANGE_CLIENT_URL).",
)
def report(start: str, end: str, chosen: str, url: str) -> None:
    """Print the periodic report of a repository: records added and updated by region and kind, the
    change in convention coverage, needs identified and met, activities delivered."""
    from exchange.transport import Transport, TransportError

    async def fetch() -> tuple[int, bytes, str]:
        async with Transport(url) as transport:
            answer = await transport.get("/v1/report", params={"from": start, "to": end, "format": chosen})
            return answer.status, answer.raw, answer.problem.message if answer.status != 200 else ""

    try:
        status, raw, problem = run(fetch)
    except TransportError as exc:
        raise click.ClickException(str(exc)) from None
    if status != 200:
        raise click.ClickException(f"{url} answered {status}: {problem}")
    click.echo(raw.decode("utf-8"), nl=False)


@cli.command()
@click.option("--host", help="Listen address (default 127.0.0.1; $EXCHANGE_HOST).")
@click.option("--port", type=int, help="Listen port (default 8080; $EXCHANGE_PORT).")
@config_option
def gateway(host: str | None, port: int | None, config_file: Path | None) -> None:
    """Run only the HTTP gateway (scale-out: run workers as separate processes)."""
    _serve(settings_from(config_file, host=host, port=port), 0, config_file)


@cli.group()
def worker() -> None:
    """Run a worker process (any number may run at once)."""


@worker.command("validate")
@click.option("--burst", is_flag=True, help="Drain the queue, then exit (for tests and batch jobs).")
@config_option
def worker_validate(burst: bool, config_file: Path | None) -> None:
    """Validate and decide queued submissions; SIGTERM finishes the batch in hand, then exits."""
    from exchange.jsonlogs import configure
    from exchange.services import open_services
    from workers import validate

    settings = settings_from(config_file)
    configure(settings.log_level, settings.log_format)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with open_services(settings) as services:
            return await validate.run(services, stop, burst=burst)

    processed = run(main)
    click.echo(f"decided {processed} submission(s)", err=True)


def _run_until_signalled(config_file: Path | None, job: Background) -> None:
    from exchange.jsonlogs import configure
    from exchange.services import open_services

    settings = settings_from(config_file)
    configure(settings.log_level, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with open_services(settings) as services:
            await job(services, stop)

    run(main)


@worker.command("checkpoint")
@config_option
def worker_checkpoint(config_file: Path | None) -> None:
    """Sign a checkpoint of the transparency log every second while it grows (several may run)."""
    from workers import checkpoint

    _run_until_signalled(config_file, checkpoint.run)


@worker.command("deliver")
@config_option
def worker_deliver(config_file: Path | None) -> None:
    """Deliver webhooks to every subscription, in order, at least once (several may run)."""
    from workers import deliver

    _run_until_signalled(config_file, deliver.run)


@cli.command()
@config_option
def migrate(config_file: Path | None) -> None:
    """Create or upgrade the database schema, then exit."""
    from exchange.backends import Backends

    settings = settings_from(config_file)

    async def main() -> None:
        backends = Backends.from_settings(settings)
        await backends.open()
        await backends.close()

    run(main)
    click.echo("database schema is up to date", err=True)


@cli.command()
@click.option("--url", help="Probe a running server's /readyz instead of the backends directly.")
@config_option
def check(url: str | None, config_file: Path | None) -> None:
    """Exit 0 when the service is ready (database and queue reachable), 1 otherwise."""

    async def over_http(target: str) -> bool:
        import aiohttp

        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.get(target.rstrip("/") + "/readyz") as response,
            ):
                click.echo(await response.text())
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError) as exc:
            click.echo(f"not ready: {exc}", err=True)
            return False

    async def direct() -> bool:
        from exchange.backends import Backends

        backends = Backends.from_settings(settings_from(config_file))
        try:
            await backends.open()
            try:
                await backends.repository.ping()
                await backends.queue.ping()
            finally:
                await backends.close()
        except (ExchangeError, OSError) as exc:
            click.echo(f"not ready: {exc}", err=True)
            return False
        click.echo("ready")
        return True

    ok = asyncio.run(over_http(url) if url else direct())
    sys.exit(0 if ok else 1)


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print the settings reference (docs/settings.md).")
@config_option
def show_settings(markdown: bool, config_file: Path | None) -> None:
    """Show the effective settings (secrets redacted), or the settings reference."""
    if markdown:
        click.echo(settings_reference(), nl=False)
        return
    settings = settings_from(config_file)
    values = json.loads(settings.model_dump_json())
    for name in ("database_url", "queue_url"):
        values[name] = redact(values[name]) if values[name] else values[name]
    click.echo(json.dumps(values, indent=2))


cli.add_command(admin)
cli.add_command(keys)
cli.add_command(submit)
cli.add_command(endorse)
cli.add_command(import_group)
cli.add_command(outbox_group)
cli.add_command(connect_group)
cli.add_command(verify)
cli.add_command(audit)
cli.add_command(follow)
cli.add_command(review)


def main() -> None:
    cli(prog_name="exchange")
