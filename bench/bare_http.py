"""A bare aiohttp handler: the HTTP ceiling the gateway is measured against.

    python -m bench.bare_http --port 8081

One route, ``POST /v1/submissions``: read the whole body, answer 202 with a JSON body about the size
of the gateway's acknowledgment. Nothing is parsed, checked or stored. The app runs on uvloop exactly
as ``exchange serve`` runs its own (``web.run_app`` with no access log); SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

from exchange import loops

# shaped like the gateway's 202: the submission's state, its signed acknowledgment and a status link
ACKNOWLEDGMENT = json.dumps(
    {
        "participant": "GBR",
        "submission_id": "0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10",
        "status": "queued",
        "received_at": "2026-01-01T00:00:00.000000Z",
        "acknowledgment": {
            "protected": "e" * 120,
            "payload": "e" * 116,
            "signature": "s" * 86,
        },
        "links": {"status": "/v1/submissions/GBR/0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10"},
    },
    separators=(",", ":"),
).encode()
LOCATION = "/v1/submissions/GBR/0b6c6f2e-8d1f-4c52-9a55-1e0d2b7b4a10"


async def submit(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(
        status=202, body=ACKNOWLEDGMENT, content_type="application/json", headers={"Location": LOCATION}
    )


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/submissions", submit)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None, loop=loops.loop_factory()())


if __name__ == "__main__":
    main()
