"""Query parameters, read one way everywhere: unknown names refused, numbers checked, errors named."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from exchange.errors import ErrorItem, ExchangeError, Problems

MAX_SAFE = 2**53 - 1


def bad(name: str, message: str) -> ExchangeError:
    """A 422 naming the parameter (``?name``) and what is wrong with it."""
    return ExchangeError(Problems.INVALID_REQUEST, message, errors=[ErrorItem(f"?{name}", "query", message)])


def only(request: web.Request, allowed: Iterable[str]) -> None:
    """Refuse any query parameter not in ``allowed`` (a typo never silently widens a query)."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise bad(unknown[0], f"unknown query parameter(s): {', '.join(unknown)}")


def integer(request: web.Request, name: str, default: int | None, low: int = 0, high: int = MAX_SAFE) -> int:
    """An integer in [low, high]; ``default`` when absent, required when ``default`` is None."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise bad(name, f"query parameter {name} is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad(name, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise bad(name, f"{name} must lie between {low} and {high}")
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


def values(request: web.Request, name: str) -> tuple[str, ...]:
    """Every value of a repeatable, comma-separable parameter."""
    return tuple(v for raw in request.query.getall(name, []) for v in raw.split(",") if v)
