"""The follower's state file beside its journal: the log it trusts and how far the record files are.

``FILE.ndjson.checkpoint`` (or ``DIR/.checkpoint``) is one JSON object, replaced atomically::

    {"format": "exchange-follow/1", "url": "...", "origin": "...", "log_origin": "...",
     "verifier_keys": ["<name>+<id>+<key>", ...], "filters": {"kind": [], "participant": [], "jurisdiction": []},
     "since": 0, "applied_seq": 42, "checkpoint": {"size": 97, "root": "<base64>", "note": "..."}}

``verifier_keys`` are the log keys pinned on the first run; ``checkpoint`` is the newest signed checkpoint
the follower verified (every later one must be consistent with it); ``applied_seq`` is the seq up to
which the record files reflect the journal; ``since`` is where the copy started.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.follow.journal import atomic_write
from exchange.feedcheck import TrustedCheckpoint

__all__ = ["FORMAT", "FilterSet", "State", "StateError"]

FORMAT = "exchange-follow/1"
FilterSet = dict[str, list[str]]


class StateError(ValueError):
    """The state file cannot be read."""


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StateError(f"{what} is not a list of strings")
    return list(value)


@dataclass
class State:
    url: str
    origin: str | None
    log_origin: str
    verifier_keys: list[str]
    filters: FilterSet = field(default_factory=dict)
    since: int = 0
    applied_seq: int = 0
    checkpoint: TrustedCheckpoint | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "url": self.url,
            "origin": self.origin,
            "log_origin": self.log_origin,
            "verifier_keys": self.verifier_keys,
            "filters": self.filters,
            "since": self.since,
            "applied_seq": self.applied_seq,
            "checkpoint": self.checkpoint.as_dict() if self.checkpoint else None,
        }

    def save(self, path: Path) -> None:
        atomic_write(path, (json.dumps(self.as_dict(), indent=2) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> State | None:
        """The saved state, or None when there is none yet."""
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            raise StateError(f"{path} is not JSON") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise StateError(f"{path} is not a follower state file ({FORMAT})")
        try:
            filters = document.get("filters") or {}
            if not isinstance(filters, dict):
                raise StateError("filters is not an object")
            checkpoint = document.get("checkpoint")
            trusted = None
            if checkpoint is not None:
                trusted = TrustedCheckpoint(
                    int(checkpoint["size"]),
                    base64.b64decode(checkpoint["root"], validate=True),
                    str(checkpoint["note"]),
                )
            origin = document.get("origin")
            return cls(
                url=str(document["url"]),
                origin=origin if isinstance(origin, str) else None,
                log_origin=str(document["log_origin"]),
                verifier_keys=_strings(document["verifier_keys"], "verifier_keys"),
                filters={str(k): _strings(v, f"filters.{k}") for k, v in filters.items()},
                since=int(document.get("since") or 0),
                applied_seq=int(document.get("applied_seq") or 0),
                checkpoint=trusted,
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise StateError(f"{path}: {exc}") from None
