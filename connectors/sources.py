"""Reading an importer's input: a local file or an http(s) URL, with a size limit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from connectors.model import ImportFailure

MAX_BYTES = 32 * 1024 * 1024
USER_AGENT = "exchange-connector/1"


@dataclass(frozen=True, slots=True)
class Loaded:
    data: bytes
    url: str | None  # where it came from, when fetched
    label: str  # what to call it in messages
    content_type: str = ""


def is_url(location: str) -> bool:
    return bool(re.match(r"^https?://", location, re.IGNORECASE))


async def fetch(
    url: str,
    session: aiohttp.ClientSession | None = None,
    *,
    accept: str = "*/*",
    max_bytes: int = MAX_BYTES,
) -> Loaded:
    """GET ``url``; ImportFailure on a network error, a non-200 answer or a body over ``max_bytes``."""
    own = session is None
    session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        async with session.get(url, headers={"Accept": accept, "User-Agent": USER_AGENT}) as response:
            if response.status != 200:
                raise ImportFailure(f"{url}: HTTP {response.status}")
            data = await response.content.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ImportFailure(f"{url}: larger than {max_bytes} bytes")
            return Loaded(data, str(response.url), url, response.headers.get("Content-Type", ""))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ImportFailure(f"{url}: cannot fetch ({type(exc).__name__}: {exc})") from None
    finally:
        if own:
            await session.close()


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> Loaded:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ImportFailure(f"{path}: larger than {max_bytes} bytes")
        return Loaded(path.read_bytes(), None, str(path))
    except OSError as exc:
        raise ImportFailure(f"{path}: cannot read ({exc.strerror or exc})") from None


async def load(location: str, session: aiohttp.ClientSession | None = None, *, accept: str = "*/*") -> Loaded:
    """A file path or an http(s) URL."""
    if is_url(location):
        return await fetch(location, session, accept=accept)
    return read_file(Path(location))
