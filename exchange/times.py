"""Time: one format written everywhere (RFC 3339, UTC, ``Z``) and a strict reader."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z``: sortable as text, the only format stored."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


def parse(text: str) -> datetime:
    """Parse an RFC 3339 date-time with an explicit offset; raise ValueError otherwise."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    fraction = (match.group(7) or "")[:7].ljust(7, "0")[1:] if match.group(7) else "0"
    normal = (
        text[:19].replace("t", "T") + f".{fraction}" + ("+00:00" if match.group(8) in ("Z", "z") else match.group(8))
    )
    try:
        return datetime.fromisoformat(normal).astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 lies before the first representable instant
        raise ValueError(f"date-time outside the supported range: {text!r}") from None
