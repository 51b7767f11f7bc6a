"""The read API at scale: 100,000 records over 200 States.

python -m bench.reads                   # 100,000 records, 200 requests per query
python -m bench.reads --records 20000   # smaller

As in ``bench.portal``, the records are written straight through the repository port and read back
over HTTP from the service running in this process on the embedded SQLite database, with sequential
requests over loopback (each query once to warm it, then ``--requests`` times). Goals (issue 16): search
and filters p99 under 50 ms, a record with its versions under 10 ms, change-feed pages of 1,000 under
50 ms. Writes bench/reads.json and the "Reads at scale" section of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bench.portal import BATCH, _decisions, _states
from bench.sections import measure, write_section
from exchange.gateway.app import create_app
from exchange.gateway.appkeys import SERVICES
from exchange.settings import Settings
from exchange.validation.catalogue import Catalogue

HERE = Path(__file__).resolve().parent
GOALS_MS = {"search": 50.0, "record": 10.0, "changes": 50.0}


async def run(records: int, requests: int) -> dict[str, Any]:
    catalogue = Catalogue.from_package()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.model_validate(
            {"data_dir": Path(folder), "origin": "http://bench.test", "log_level": "WARNING", "port": 0}
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        services = app[SERVICES]
        print(f"writing {records:,} records over {len(_states(catalogue))} States…", flush=True)
        decisions = _decisions(records, catalogue, services.validator)
        for start in range(0, len(decisions), BATCH):
            await services.repository.decide(decisions[start : start + BATCH])
        sample = decisions[0]
        assert sample.record is not None
        for n in range(2, 6):  # the sample record gets five versions
            record = {**orjson.loads(sample.content or b"{}"), "citation": f"version {n}"}
            later = replace(_decisions(1, catalogue, services.validator)[0], record=sample.record)
            await services.repository.decide([replace(later, content=orjson.dumps(record))])
        state = _states(catalogue)[5]
        head = await services.repository.last_seq()
        queries = {
            "search: full text": ("search", "/v1/records?q=computer+access"),
            "search: kind, country, tag": ("search", f"/v1/records?kind=law&jurisdiction={state}&tag=off.cia.illegal_access"),
            "search: region and status": ("search", "/v1/records?region=Europe&status=in_force"),
            "search: instrument article": ("search", "/v1/records?instrument=inst.coe.ets185&article=2"),
            "record": ("record", f"/v1/records/{sample.record}"),
            "record versions": ("record", f"/v1/records/{sample.record}/versions"),
            "changes: 1,000": ("changes", f"/v1/changes?since={head // 2}&limit=1000"),
            "changes: 1,000 with records": ("changes", f"/v1/changes?since={head // 2}&limit=1000&include=record"),
        }  # fmt: skip
        results: dict[str, Any] = {}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            # the coverage index follows the feed in the background: let it catch up before measuring
            async with session.get("/v1/coverage?instrument=inst.coe.ets185") as response:
                await response.read()
            for name, (goal, path) in queries.items():
                results[name] = {"goal": goal, "path": path, **await measure(session, path, requests)}
                print(f"{name:32} {results[name]}", flush=True)
        await runner.cleanup()
    return {"records": records, "requests": requests, "queries": results}


def report(result: dict[str, Any], command: str) -> str:
    lines = [
        "## Reads at scale",
        "",
        f"`{command}`: {result['records']:,} records (nine in ten laws) over 200 States, the embedded service "
        f"in one process, sequential requests over loopback, {result['requests']} per query after one warm-up. "
        "Goals: search and filters p99 under 50 ms, a record with its versions under 10 ms, change-feed pages "
        "of 1,000 under 50 ms.",
        "",
        "| query | p50 ms | p99 ms | max ms | goal ms | met |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, figures in result["queries"].items():
        goal = GOALS_MS[figures["goal"]]
        met = "yes" if figures["p99_ms"] < goal else "no"
        lines.append(f"| {name} | {figures['p50_ms']} | {figures['p99_ms']} | {figures['max_ms']} | {goal:g} | {met} |")
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    result = asyncio.run(run(args.records, args.requests))
    (HERE / "reads.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    command = "python -m bench.reads" + (f" --records {args.records}" if args.records != 100_000 else "")
    write_section("Reads at scale", report(result, command))


if __name__ == "__main__":
    main()
