"""Downloading an audit directory from a running repository (``exchange audit export``).

The newest checkpoint is pinned first (the repository is asked to sign its current size), then the
export is read, so every decision under the pinned size is in it; then the entries up to that size,
the server's proofs, and last the key directory (keys are never deleted, so it covers every key event
already fetched). The manifest is written last: a directory without one did not finish.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
from tqdm import tqdm

from exchange import times
from exchange.auditor import layout
from exchange.auditor.source import file_sha256
from exchange.transport import (
    Problem,
    ProblemError,
    ResponseTooLarge,
    RetryPolicy,
    Transport,
    TransportError,
    Unreachable,
    parse_problem,
)

__all__ = ["MAX_EXPORT_BYTES", "MAX_JSON_BYTES", "TransportError", "Unreachable", "download"]

PAGE = 1000
PROOF_CONCURRENCY = 8


#: The largest JSON answer read (a page of entries, the key directory, a proof): far above what the
#: repository serves, low enough that a broken or hostile server cannot exhaust the auditor's memory.
MAX_JSON_BYTES = 64 * 1024 * 1024
#: The largest export streamed to disk (16 GiB); past it the download stops instead of filling the disk.
MAX_EXPORT_BYTES = 16 * 1024**3
#: Reads are retried a few times (an auditor runs by hand and should fail fast when nobody answers).
RETRY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=10.0)


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _refused(url: str, path: str, status: int, body: Any) -> ProblemError:
    problem = parse_problem(status, body)
    detail = problem.message or str(body or "")[:300]
    hint = " (an auditor or admin token is needed: --token)" if status in (401, 403) else ""
    return ProblemError(problem, f"GET {url}{path} answered {status}: {detail}{hint}")


def _malformed(message: str) -> ProblemError:
    """An answer of status 200 the auditor cannot use (the repository misbehaves)."""
    return ProblemError(Problem(200, detail=message), message)


class _Client:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.url = transport.url

    async def raw(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        answer = await self.transport.get(path, params=params, max_body=MAX_JSON_BYTES)
        if answer.status != 200:
            raise _refused(self.url, path, answer.status, answer.body)
        return answer.raw

    async def json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        data = await self.raw(path, params)
        try:
            return json.loads(data)
        except ValueError:
            raise _malformed(f"GET {self.url}{path} did not answer JSON; is this an exchange repository?") from None

    async def stream_to(self, path: str, params: dict[str, Any], target: Path) -> None:
        async with self.transport.session.get(self.url + path, params=params) as response:
            if response.status != 200:
                body = await response.content.read(300)  # enough for the problem's detail
                raise _refused(self.url, path, response.status, body)
            written = 0
            with target.open("wb") as handle:
                async for block in response.content.iter_chunked(1 << 16):
                    written += len(block)
                    if written > MAX_EXPORT_BYTES:
                        raise ResponseTooLarge(MAX_EXPORT_BYTES)
                    handle.write(block)


def _prepare(out: Path) -> None:
    """Create the directory and drop an old manifest, so that an unfinished export is never taken as whole."""
    out.mkdir(parents=True, exist_ok=True)
    (out / layout.MANIFEST).unlink(missing_ok=True)


async def download(url: str, out: Path, token: str | None = None, *, progress: bool = False) -> dict[str, Any]:
    """Write the audit directory for the repository at ``url`` into ``out``; return its manifest.

    Raises :class:`~exchange.transport.TransportError`: :class:`Unreachable` when the repository
    cannot be reached, :class:`ProblemError` when it refuses, :class:`ResponseTooLarge` past a limit.
    """
    _prepare(out)
    try:
        async with Transport(url, token=token, retry=RETRY, connect_timeout=10, read_timeout=120) as transport:
            return await _download(_Client(transport), out, progress)
    except (Unreachable, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise Unreachable(f"cannot read the repository at {url}: {exc or type(exc).__name__}") from None


async def _download(client: _Client, out: Path, progress: bool) -> dict[str, Any]:
    info = await client.raw("/v1/info")
    (out / layout.INFO).write_bytes(info)
    await client.raw("/v1/log/checkpoint")  # the repository signs its current size if it has grown
    sizes = await _checkpoints(client, out / layout.CHECKPOINTS)
    signed_size = sizes[-1] if sizes else 0
    await client.stream_to("/v1/audit/export", {"format": "ndjson"}, out / layout.EXPORT)
    await _entries(client, out / layout.ENTRIES, signed_size, progress)
    await _proofs(client, out / layout.PROOFS, sizes, progress)
    (out / layout.KEYS).write_bytes(await client.raw("/v1/keys"))
    manifest = {
        "format": layout.FORMAT,
        "source": client.url,
        "exported_at": times.iso(times.now()),
        "signed_size": signed_size,
        "checkpoints": len(sizes),
        "files": {name: file_sha256(out / name) for name in layout.FILES},
    }
    (out / layout.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


async def _checkpoints(client: _Client, target: Path) -> list[int]:
    sizes: list[int] = []
    with target.open("wb") as handle:
        while True:
            page = await client.json("/v1/log/checkpoints", {"after": sizes[-1] if sizes else 0})
            rows = page.get("checkpoints") if isinstance(page, dict) else None
            if not rows:
                return sizes
            for row in rows:
                handle.write(_line(row))
                size = row.get("size") if isinstance(row, dict) else None
                if not isinstance(size, int) or (sizes and size <= sizes[-1]):
                    raise _malformed("the checkpoint list is not in growing size order")
                sizes.append(size)


async def _entries(client: _Client, target: Path, size: int, progress: bool) -> None:
    bar = tqdm(total=size, unit="entry", desc="log entries", file=sys.stderr, disable=not progress, leave=False)
    with target.open("wb") as handle, bar:
        start = 0
        while start < size:
            end = min(start + PAGE, size)
            page = await client.json("/v1/log/entries", {"start": start, "end": end})
            rows = page.get("entries") if isinstance(page, dict) else None
            if not rows:
                break  # the verifier reports the missing entries
            for row in rows:
                handle.write(_line(row))
            start += len(rows)
            bar.update(len(rows))


async def _proofs(client: _Client, target: Path, sizes: list[int], progress: bool) -> None:
    pairs = [(old, new) for old, new in itertools.pairwise(sizes) if old > 0]  # none from the empty tree
    gate = asyncio.Semaphore(PROOF_CONCURRENCY)

    async def consistency(old: int, new: int) -> dict[str, Any]:
        async with gate:
            try:
                body = await client.json("/v1/log/proof/consistency", {"old": old, "new": new})
            except ProblemError as exc:  # a refused proof is the verifier's finding, not a fetch failure
                return {"type": "consistency", "old": old, "new": new, "error": str(exc)}
        return {"type": "consistency", "old": old, "new": new, "proof": body.get("proof")}

    bar = tqdm(total=len(pairs), unit="proof", desc="proofs", file=sys.stderr, disable=not progress, leave=False)
    with target.open("wb") as handle, bar:
        for start in range(0, len(pairs), 64):
            chunk = pairs[start : start + 64]
            for line in await asyncio.gather(*(consistency(old, new) for old, new in chunk)):
                handle.write(_line(line))
            bar.update(len(chunk))
        if sizes:
            size = sizes[-1]
            try:
                body = await client.json("/v1/log/proof/inclusion", {"index": size - 1, "size": size})
                line = {"type": "inclusion", "index": size - 1, "size": size, "root": body.get("root")}
                line["proof"] = body.get("proof")
            except ProblemError as exc:
                line = {"type": "inclusion", "index": size - 1, "size": size, "error": str(exc)}
            handle.write(_line(line))
