"""The NDJSON batch endpoint against hostile lines (schemathesis cannot write NDJSON, so by hand).

Whatever a line holds (bytes that are not UTF-8, NUL, carriage returns, JSON nested deeper than any
parser should follow, numbers past every limit, JWS-shaped nonsense), the batch is answered 207 with
one 4xx result per non-blank line naming that line, and good lines around it are accepted.
"""

from __future__ import annotations

import base64
import json
import random

from tests.e2e.conftest import Service
from tests.support import example_for


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hostile_lines(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    deep = "[" * 5000 + "]" * 5000
    jws_like = json.dumps({"protected": _b64(b'{"alg":"none"}'), "payload": _b64(b"{}"), "signature": ""})
    lines = [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))),
        b"\x00\x00\x00",
        b"\xff\xfe\xfd not utf-8",
        b'{"protected": "\x00", "payload": "x", "signature": "y"}\r',
        deep.encode(),
        b'{"n": ' + b"9" * 5000 + b"}",
        jws_like.encode(),
        b"eyJhbGciOiJFZERTQSJ9.e30.AAAA",
        b'"just a string"',
        b"[1, 2, 3]",
        json.dumps({"protected": "a" * 3000, "payload": "b", "signature": "c"}).encode(),
    ]
    rng.shuffle(lines)
    return [line.replace(b"\n", b" ") for line in lines]


async def test_hostile_lines_each_get_a_4xx_and_good_lines_go_through(service: Service) -> None:
    record_id, record = example_for("law", "GBR")
    for seed in range(3):
        hostile = hostile_lines(seed)
        good = [service.signer.submission(record, record_id=f"{record_id}-{seed}-{n}") for n in range(2)]
        lines = [good[0], *hostile, b"", good[1]]
        response = await service.client.post(
            "/v1/submissions:batch", data=b"\n".join(lines) + b"\n", headers={"Content-Type": "application/x-ndjson"}
        )
        text = await response.text()
        assert response.status == 207, text[:300]
        results = [json.loads(line) for line in text.splitlines()]
        numbers = [n for n, line in enumerate(lines, start=1) if line.strip()]
        assert [r["line"] for r in results] == numbers
        assert results[0]["status"] == 202 and results[-1]["status"] == 202
        for result in results[1:-1]:
            assert 400 <= result["status"] < 500, result
            assert result["body"]["type"].startswith("urn:exchange:problem:")
        for result in (results[0], results[-1]):
            verdict = await service.verdict("GBR", result["body"]["submission_id"])
            assert verdict["status"] == "accepted"
