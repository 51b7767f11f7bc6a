"""Query parameters, read one way everywhere: unknown names refused, numbers checked, errors named."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import date

from aiohttp import web

from exchange.errors import ErrorItem, ExchangeError, Problems

MAX_SAFE = 2**53 - 1
#: Record versions are stored as 32-bit integers (PostgreSQL ``integer``): a larger one is never issued.
MAX_VERSION = 2**31 - 1
#: C0 controls and DEL: no query value means them, and databases refuse NUL in text.
#: Characters no query value, path segment or search may carry (a database refuses NUL in text).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
#: The decimal digits of MAX_SAFE: a longer run of digits is out of range before it is converted.
_MAX_DIGITS = len(str(MAX_SAFE))


def parse_count(raw: str) -> int | None:
    """A non-negative integer written in ASCII digits and within MAX_SAFE; None for anything else.

    ``int()`` alone would take ``²``-free Unicode digits (``١٢``), surrounding spaces, ``_`` and
    thousands of digits (a ValueError past 4,300 of them); none of those is a number this API issues.
    """
    if not (0 < len(raw) <= _MAX_DIGITS and raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= MAX_SAFE else None


def bad(name: str, message: str) -> ExchangeError:
    """A 422 naming the parameter (``?name``) and what is wrong with it."""
    return ExchangeError(Problems.INVALID_REQUEST, message, errors=[ErrorItem(f"?{name}", "query", message)])


def only(request: web.Request, allowed: Iterable[str]) -> None:
    """Refuse any query parameter not in ``allowed`` (a typo never silently widens a query)."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise bad(unknown[0], f"unknown query parameter(s): {', '.join(unknown)}")
    for name, value in request.query.items():
        if CONTROL_CHARACTERS.search(value):
            raise bad(name, f"{name} must not contain control characters (such as NUL)")
        if not value:
            raise bad(name, f"{name} is empty: give it a value, or leave the parameter out")


def integer(request: web.Request, name: str, default: int | None, low: int = 0, high: int = MAX_SAFE) -> int:
    """An integer in [low, high]; ``default`` when absent, required when ``default`` is None."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise bad(name, f"query parameter {name} is required")
        return default
    negative = raw.startswith("-")
    value = parse_count(raw[1:] if negative else raw)
    if value is None:
        raise bad(name, f"{name} must be an integer between {low} and {high}")
    value = -value if negative else value
    if not low <= value <= high:
        raise bad(name, f"{name} must lie between {low} and {high}")
    return value


def path_number(request: web.Request, name: str, what: str, high: int = MAX_VERSION) -> int:
    """A number in the URL path (a version): anything this API never issues is simply not found.

    Checked against ``high`` here, so an out-of-range number never reaches the database.
    """
    raw = request.match_info[name]
    value = parse_count(raw)
    if value is None or value > high:
        raise ExchangeError(Problems.NOT_FOUND, f"there is no {what} {raw[:20]}{'…' if len(raw) > 20 else ''}")
    return value


def number(request: web.Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad(name, f"{name} must be a number") from None
    if not low <= value <= high:
        raise bad(name, f"{name} must lie between {low:g} and {high:g}")
    return value


def day(request: web.Request, name: str) -> str | None:
    """A calendar date written YYYY-MM-DD (``2026-02-30`` is refused); None when absent."""
    raw = request.query.get(name) or None
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw).isoformat()
    except ValueError:
        pass
    raise bad(name, f"{name} must be a calendar date YYYY-MM-DD")


def values(request: web.Request, name: str) -> tuple[str, ...]:
    """Every value of a repeatable, comma-separable parameter."""
    return tuple(v for raw in request.query.getall(name, []) for v in raw.split(",") if v)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def control_characters_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse control characters (NUL above all) in any query value or path segment of the API.

    Databases refuse NUL in text (PostgreSQL raises), so such input must never reach a query: a query
    value is a 422 naming the parameter; a path segment names nothing this API issues, so it is a 404.
    """
    if not request.path.startswith("/v1/"):  # the portal's pages answer in HTML, and check their own input
        return await handler(request)
    for name, value in request.query.items():
        if CONTROL_CHARACTERS.search(name) or CONTROL_CHARACTERS.search(value):
            shown = CONTROL_CHARACTERS.sub("?", name)
            raise bad(shown, f"{shown} must not contain control characters (such as NUL)")
    for name, value in request.match_info.items():
        if CONTROL_CHARACTERS.search(value):
            raise ExchangeError(Problems.NOT_FOUND, f"the {name} in the path contains control characters (such as NUL)")
    return await handler(request)
