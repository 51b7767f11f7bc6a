"""What every storage adapter shares, whatever its dialect: safe URLs and the subscription UPDATE."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from exchange.models import Subscription

SUBSCRIPTION_COLUMNS = (
    "id, owner, url, kinds, participants, jurisdictions, secret, status, cursor, created_at, previous_secret, "
    "previous_secret_until, failing_since, attempts, next_attempt_at, last_error, lease_owner, lease_until"
)
_UPDATABLE = frozenset(SUBSCRIPTION_COLUMNS.replace(" ", "").split(",")) - {"id", "owner", "created_at"}
_LISTS = ("kinds", "participants", "jurisdictions")


class Row(Protocol):
    """A result row of either driver (a tuple from sqlite3, an ``asyncpg.Record``)."""

    def __getitem__(self, index: int, /) -> Any: ...


def redact(url: str) -> str:
    """``url`` with any password (in the user info or a ``password`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def subscription_update(fields: Mapping[str, Any], expect: Mapping[str, Any], mark: str) -> tuple[str, list[Any]]:
    """The UPDATE statement of ``update_subscription``: values of ``fields``, then the id, then ``expect``'s.

    ``expect`` makes it a compare-and-set: the row changes only while those columns hold those values
    (``None`` meaning NULL). ``mark`` is the placeholder style: ``?`` for SQLite, ``$`` for numbered
    PostgreSQL parameters.
    """
    unknown = (set(fields) | set(expect)) - _UPDATABLE
    if unknown or not fields:
        raise ValueError(f"cannot update subscription field(s) {sorted(unknown) or '(none)'}")

    def encode(name: str, value: Any) -> Any:
        return orjson.dumps(list(value)).decode() if name in _LISTS else value

    count = 0

    def place() -> str:
        nonlocal count
        count += 1
        return "?" if mark == "?" else f"${count}"

    sets = ", ".join(f"{name} = {place()}" for name in fields)
    where = [f"id = {place()}"]
    args = [encode(n, v) for n, v in fields.items()]
    for name, value in expect.items():
        if value is None:
            where.append(f"{name} IS NULL")
        else:
            where.append(f"{name} = {place()}")
            args.append(encode(name, value))
    return f"UPDATE subscriptions SET {sets} WHERE {' AND '.join(where)}", args


def subscription_row(s: Subscription) -> tuple[Any, ...]:
    """The values of :data:`SUBSCRIPTION_COLUMNS` for ``s`` (lists as JSON text)."""
    return (
        s.id, s.owner, s.url, orjson.dumps(list(s.kinds)).decode(), orjson.dumps(list(s.participants)).decode(),
        orjson.dumps(list(s.jurisdictions)).decode(), s.secret, s.status, s.cursor, s.created_at,
        s.previous_secret, s.previous_secret_until, s.failing_since, s.attempts, s.next_attempt_at,
        s.last_error, s.lease_owner, s.lease_until,
    )  # fmt: skip


def subscription_from_row(row: Row) -> Subscription:
    """The subscription a row of :data:`SUBSCRIPTION_COLUMNS` holds."""
    return Subscription(
        id=row[0], owner=row[1], url=row[2], kinds=tuple(orjson.loads(row[3])),
        participants=tuple(orjson.loads(row[4])), jurisdictions=tuple(orjson.loads(row[5])), secret=row[6],
        status=row[7], cursor=row[8], created_at=row[9], previous_secret=row[10], previous_secret_until=row[11],
        failing_since=row[12], attempts=row[13], next_attempt_at=row[14], last_error=row[15],
        lease_owner=row[16], lease_until=row[17],
    )  # fmt: skip
