"""What one core can do at each stage alone: the ceilings the pipeline is measured against."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from exchange import ijson
from exchange.envelope import FLATTENED_MEDIA_TYPE, SigningKey, parse
from exchange.keys import PublicKey
from exchange.validation import ParticipantScope, Validator


def rate(fn: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls of ``fn`` a second, over about ``seconds``."""
    count, start = 0, time.perf_counter()
    while True:
        for _ in range(100):
            fn()
        count += 100
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def measure(payload: dict[str, Any], participant: str) -> dict[str, float]:
    key = SigningKey.generate(f"{participant}/bench")
    public = PublicKey(key.kid, participant, key.alg, key.public_jwk, datetime(2020, 1, 1, tzinfo=UTC))
    raw = json.dumps(payload).encode()
    body = json.dumps(key.sign_jws(raw)).encode()
    jws = parse(body, FLATTENED_MEDIA_TYPE)
    validator = Validator.from_package()
    scope = ParticipantScope(participant, "member_state", frozenset({participant}))
    assert not validator.validate_payload(payload, scope)
    return {
        "ed25519_verify_per_s": rate(lambda: jws.verify(public)),
        "jws_parse_per_s": rate(lambda: parse(body, FLATTENED_MEDIA_TYPE)),
        "ijson_parse_per_s": rate(lambda: ijson.loads(raw)),
        "validate_payload_per_s": rate(lambda: validator.validate_payload(payload, scope)),
    }
