"""``exchange review``: an editor's queue of submissions held for review, and their signed decisions.

``list`` and ``show`` read the queue with an editor token; ``approve`` and ``return`` sign the decision
with the editor's own registered key (a secretariat key) and submit it, so that every decision is a
signed, logged submission that ``exchange verify`` checks like any other.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import click

from exchange.cli.common import signing_options
from exchange.client import ClientError, SubmissionClient, review_payload, sign
from exchange.envelope import SigningKey
from exchange.identifiers import participant_of_kid
from exchange.transport import TransportError

EXIT_REFUSED = 1
EXIT_FAILED = 3

_url = click.option("--url", required=True, envvar="EXCHANGE_CLIENT_URL", help="Repository URL ($EXCHANGE_CLIENT_URL).")
_token = click.option(
    "--token", required=True, envvar="EXCHANGE_CLIENT_TOKEN", help="Editor API token ($EXCHANGE_CLIENT_TOKEN)."
)


def _split(submission: str) -> tuple[str, str]:
    participant, _, submission_id = submission.rpartition("/")
    if not participant or not submission_id:
        raise click.BadParameter("name it <participant>/<submission id>, as `exchange review list` shows")
    return participant, submission_id


def _call(url: str, token: str, work: Any) -> Any:
    async def main() -> Any:
        async with SubmissionClient(url, token) as client:
            return await work(client)

    try:
        return asyncio.run(main())
    except (TransportError, aiohttp.ClientError, ClientError, TimeoutError) as exc:
        click.echo(f"error: cannot use the repository at {url}: {exc}", err=True)
        sys.exit(EXIT_FAILED)


def _fail(status: int, body: Any) -> None:
    detail = body.get("detail") if isinstance(body, dict) else body
    click.echo(f"error: HTTP {status}: {detail}", err=True)
    sys.exit(EXIT_FAILED if status >= 500 or status == 429 else EXIT_REFUSED)


@click.group()
def review() -> None:
    """The review queue: submissions held until an editor approves or returns them."""


@review.command("list")
@_url
@_token
@click.option("--returned", is_flag=True, help="List the submissions sent back, instead of those waiting.")
@click.option("--participant", help="Only this participant's submissions.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
def list_queue(url: str, token: str, returned: bool, participant: str | None, as_json: bool) -> None:
    """Submissions waiting for review (oldest first), one line each."""
    query = f"?status={'returned' if returned else 'pending_review'}"
    if participant:
        query += f"&participant={participant}"

    async def work(client: SubmissionClient) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            status, body = await client.get_json(
                f"/v1/reviews{query}" + (f"&after={after}" if after is not None else "")
            )
            if status != 200:
                _fail(status, body)
            found += body["results"]
            after = body.get("next")
            if after is None:
                return found

    items = _call(url, token, work)
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    for item in items:
        current = item.get("current")
        now = f"replaces v{current['version']}" if current else "new record"
        click.echo(
            f"{item['participant']}/{item['submission_id']}  {item['action']} {item['record']} ({now}), "
            f"received {item['received_at']}"
        )
    click.echo(f"{len(items)} submission(s) {'returned' if returned else 'waiting for review'}", err=True)


@review.command("show")
@click.argument("submission")
@_url
@_token
def show(submission: str, url: str, token: str) -> None:
    """SUBMISSION (<participant>/<submission id>) with the record it would publish, as JSON."""
    participant, submission_id = _split(submission)

    async def work(client: SubmissionClient) -> Any:
        status, body = await client.get_json(f"/v1/reviews/{participant}/{submission_id}")
        if status != 200:
            _fail(status, body)
        return body

    click.echo(json.dumps(_call(url, token, work), indent=2, ensure_ascii=False))


def _decide(action: str, submission: str, url: str, token: str, kid: str, key_file: Path, comment: str | None) -> None:
    participant, submission_id = _split(submission)
    try:
        key = SigningKey.from_file(kid, key_file)
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"cannot read the private key {key_file}: {exc}") from None

    async def work(client: SubmissionClient) -> tuple[str, dict[str, Any]]:
        status, held = await client.get_json(f"/v1/reviews/{participant}/{submission_id}")
        if status != 200:
            _fail(status, held)
        audience = (await client.info())["origin"]
        payload = review_payload(
            participant=participant_of_kid(kid), audience=audience, action=action, reviewed=held, comments=comment
        )
        prepared = sign(payload, key)
        status, ack = await client.submit(prepared)
        if status != 202:
            _fail(status, ack)
        status, state = await client.wait(prepared.participant, prepared.submission_id)
        if status != 200:
            _fail(status, state)
        return held["record"], state

    record, state = _call(url, token, work)
    if state.get("status") == "accepted":
        done = (
            f"version {state['version']} (seq {state['seq']})" if action == "approve" else "returned to the submitter"
        )
        click.echo(f"{action}d {submission}: {record} {done}; decision logged at index {state['log_index']}")
        return
    click.echo(f"the decision on {submission} was {state.get('status')}", err=True)
    for error in state.get("errors") or []:
        click.echo(f"    {error.get('pointer') or '/'}: {error.get('message')} [{error.get('rule')}]", err=True)
    sys.exit(EXIT_REFUSED)


@review.command("approve")
@click.argument("submission")
@signing_options
@_token
@click.option("--comment", help="A note to the submitter, kept with the decision.")
def approve(submission: str, url: str, token: str, kid: str, key_file: Path, comment: str | None) -> None:
    """Publish SUBMISSION as its record's next version: sign the approval with your key and submit it.

    Exit status: 0 approved, 1 refused (no longer pending, or it no longer applies), 3 not delivered.
    """
    _decide("approve", submission, url, token, kid, key_file, comment)


@review.command("return")
@click.argument("submission")
@signing_options
@_token
@click.option("--comment", required=True, help="What the submitter should correct (required).")
def return_(submission: str, url: str, token: str, kid: str, key_file: Path, comment: str) -> None:
    """Send SUBMISSION back with COMMENT: it is not published; a corrected submission can follow."""
    _decide("return", submission, url, token, kid, key_file, comment)
