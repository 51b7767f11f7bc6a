"""Registry administration: the one implementation behind the admin CLI and the admin HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from exchange import times
from exchange.content import content_sha256
from exchange.errors import ErrorItem, ExchangeError, Problems
from exchange.identifiers import is_kid, is_organisation_id, is_state_id, participant_of_kid
from exchange.models import PARTICIPANT_TYPES, ROLES, STATE_TYPES, Participant, RecordQuery, Reindexed, TokenInfo
from exchange.publickeys import KeyFormatError, PublicKey, parse_public_key
from exchange.repository.port import Records, Registry, Repository
from exchange.tokens import new_token
from exchange.validation import Validator
from exchange.visibility import EVERYTHING


def _invalid(pointer: str, rule: str, message: str) -> ExchangeError:
    return ExchangeError(Problems.INVALID_REQUEST, message, errors=[ErrorItem(pointer, rule, message)])


async def add_participant(
    repository: Registry,
    validator: Validator,
    participant_id: str,
    name: str,
    type_: str,
    jurisdictions: list[str],
) -> Participant:
    if type_ not in PARTICIPANT_TYPES:
        raise _invalid("/type", "enum", f"type must be one of {', '.join(PARTICIPANT_TYPES)}")
    if type_ in STATE_TYPES:
        if not is_state_id(participant_id) or not validator.is_country(participant_id):
            raise _invalid("/id", "country", f"a State's id is its ISO 3166-1 alpha-3 code, not {participant_id!r}")
    elif not is_organisation_id(participant_id):
        raise _invalid("/id", "pattern", f"an organisation's id is org:<slug> (lower case), not {participant_id!r}")
    for n, code in enumerate(jurisdictions):
        if not validator.is_country(code):
            raise _invalid(f"/jurisdictions/{n}", "country", f"{code!r} is not an ISO 3166-1 alpha-3 code")
    if not name.strip():
        raise _invalid("/name", "required", "a participant needs a name")
    participant = Participant(
        participant_id, name.strip(), type_, tuple(sorted(set(jurisdictions))), times.iso(times.now())
    )
    await repository.add_participant(participant)
    return participant


async def add_key(
    repository: Registry,
    kid: str,
    public_key: bytes,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> tuple[PublicKey, int]:
    if not is_kid(kid):
        raise _invalid("/kid", "pattern", f"a key id is <participant>/<label> (like EST/2026-01), not {kid!r}")
    try:
        alg, jwk = parse_public_key(public_key)
    except KeyFormatError as exc:
        raise _invalid("/public_key", "key-format", str(exc)) from None
    now = times.now()
    start = valid_from or now
    if valid_until is not None and valid_until <= start:
        raise _invalid("/valid_until", "order", "valid_until must come after valid_from")
    key = PublicKey(
        kid=kid,
        participant=participant_of_kid(kid),
        alg=alg,
        jwk=jwk,
        valid_from=start,
        valid_until=valid_until,
        added_at=now,
    )
    index = await repository.add_key(key)
    return key, index


async def revoke_key(repository: Registry, kid: str, reason: str) -> tuple[PublicKey, int]:
    if not reason.strip():
        raise _invalid("/reason", "required", "say why the key is revoked")
    return await repository.revoke_key(kid, reason.strip(), times.iso(times.now()))


async def create_token(
    repository: Repository,
    role: str,
    participant: str | None,
    label: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, TokenInfo]:
    """Create a token; return the secret (to show once) and what is stored about it.

    ``expires_at``: when it stops working (refused like a revoked token); None for never.
    """
    now = times.now()
    if expires_at is not None and expires_at <= now:
        raise _invalid("/expires_at", "expiry", "expires_at must lie in the future")
    if role not in ROLES:
        raise _invalid("/role", "enum", f"role must be one of {', '.join(ROLES)}")
    if role in ("participant", "subscriber") and participant is None:
        raise _invalid("/participant", "required", f"a {role} token belongs to a participant")
    if participant is not None and await repository.get_participant(participant) is None:
        raise ExchangeError(Problems.NOT_FOUND, f"participant {participant!r} is not registered")
    secret, digest, token_id = new_token()
    info = TokenInfo(
        token_id, participant, role, label, times.iso(now), expires_at=times.iso(expires_at) if expires_at else None
    )
    await repository.add_token(digest, info)
    return secret, info


async def reindex(
    repository: Records, validator: Validator, on_page: Callable[[int], None] | None = None, page: int = 500
) -> tuple[int, int]:
    """Compute again, from its content, the search index and content digest of every current record, as
    this version of the program indexes them (instrument articles and document identifiers were added
    to the index, and the digest that makes a re-sent record unchanged, after records were stored).

    Returns (records read, records rewritten); ``on_page`` hears how many records each page held.
    """
    after: tuple[str, str, str] | None = None
    read = rewritten = 0
    while True:
        versions = await repository.list_records(RecordQuery(after=after, limit=page, viewer=EVERYTHING))
        if not versions:
            return read, rewritten
        entries = [
            Reindexed(
                v.key,
                v.version,
                validator.index_fields(v.key.kind, v.content),
                content_sha256(v.schema, v.content, v.visibility, v.readers),
            )
            for v in versions
            if v.action == "upsert" and isinstance(v.content, dict)
        ]
        rewritten += await repository.reindex(entries)
        read += len(versions)
        if on_page is not None:
            on_page(len(versions))
        last = versions[-1].key
        after = (last.participant, last.kind, last.record_id)
