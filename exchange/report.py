"""The periodic report: what the repository did over a period, as a secretariat presents it to its
governing body. Records added and updated by region and kind, the change in convention coverage, needs
identified and met, and technical-assistance activities delivered.

Everything is computed from the change feed (what was accepted when) and the coverage analysis as it
stood at both ends of the period, so a report for a past period reads the same tomorrow.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from exchange.coverage import Instrument, coverage_as_of, title_text
from exchange.models import Change, ChangeQuery
from exchange.repository.port import Audit, Feeds

_PAGE = 1000
#: UN M49 regions, the report's rows.
REGIONS = {"002": "Africa", "019": "Americas", "142": "Asia", "150": "Europe", "009": "Oceania"}


@dataclass(slots=True)
class Report:
    start: date
    end: date
    first_seq: int  # the feed position before the period
    last_seq: int  # the feed position at its end
    added: Counter[tuple[str, str]] = field(default_factory=Counter)  # (region, kind) → records added
    updated: Counter[tuple[str, str]] = field(default_factory=Counter)  # (region, kind) → new versions
    withdrawn: int = 0
    coverage: list[dict[str, Any]] = field(default_factory=list)  # per instrument: covered cells before/after
    needs_identified: int = 0
    needs_met: int = 0
    activities_delivered: int = 0
    activities: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "seq": {"before": self.first_seq, "after": self.last_seq},
            "records": [
                {
                    "region": region,
                    "kind": kind,
                    "added": self.added[(region, kind)],
                    "updated": self.updated[(region, kind)],
                }
                for region, kind in sorted(set(self.added) | set(self.updated))
            ],
            "withdrawn": self.withdrawn,
            "coverage": self.coverage,
            "needs": {"identified": self.needs_identified, "met": self.needs_met},
            "activities": {"delivered": self.activities_delivered, "list": self.activities},
        }


def _in(value: Any, start: date, end: date) -> bool:
    """Whether a (possibly partial) date lies in the period."""
    if not isinstance(value, str) or len(value) < 4:
        return False
    text = value + "-01-01"[len(value) - 4 :] if len(value) in (4, 7) else value
    try:
        return start <= date.fromisoformat(text[:10]) <= end
    except ValueError:
        return False


def _region(jurisdiction: str | None, regions_of: Mapping[str, tuple[str, ...]]) -> str:
    for code in regions_of.get(jurisdiction or "", ()):
        if code in REGIONS:
            return REGIONS[code]
    return "Other"


async def build(
    feeds: Feeds,
    audit: Audit,
    catalogue: Mapping[str, Instrument],
    regions_of: Mapping[str, tuple[str, ...]],
    start: date,
    end: date,
) -> Report:
    """The report for ``start`` to ``end`` (both included, by the day changes were received)."""
    first = last = 0
    in_period: list[Change] = []
    since = 0
    while True:
        page = await feeds.list_changes(ChangeQuery(since=since, limit=_PAGE, include_content=True))
        for change in page:
            day = date.fromisoformat(change.received_at[:10])
            if day < start:
                first = change.seq
            if day <= end:
                last = change.seq
            if start <= day <= end:
                in_period.append(change)
        if len(page) < _PAGE:
            break
        since = page[-1].seq
    report = Report(start, end, first, last)
    for change in in_period:
        if change.visibility != "public":  # the report is public: it counts what everyone may see
            continue
        kind = change.key.kind
        region = _region(change.jurisdiction, regions_of)
        if change.action == "withdraw":
            report.withdrawn += 1
            continue
        (report.added if change.version == 1 else report.updated)[(region, kind)] += 1
        content: dict[str, Any] = change.content if isinstance(change.content, dict) else {}
        dates: dict[str, Any] = content["dates"] if isinstance(content.get("dates"), dict) else {}
        if kind == "need":
            if change.version == 1:
                report.needs_identified += 1
            if content.get("status") == "met" and (change.version == 1 or _in(dates.get("met"), start, end)):
                report.needs_met += 1
        elif kind == "assistance" and content.get("status") == "completed" and _in(dates.get("actual_end"), start, end):
            report.activities_delivered += 1
            report.activities.append(
                {"record": str(change.key), "title": title_text(content.get("title")), "ended": dates.get("actual_end")}
            )
    before = await coverage_as_of(audit, catalogue, first)
    after = await coverage_as_of(audit, catalogue, last)
    for instrument in sorted(catalogue.values(), key=lambda i: i.id):
        counts = []
        for coverage in (before, after):
            cells = [c.status for j in coverage.jurisdictions() for c in coverage.state(instrument, j).values()]
            counts.append(
                {
                    "states": len(coverage.jurisdictions()),
                    "covered": cells.count("covered"),
                    "partial": cells.count("partial"),
                }
            )
        report.coverage.append({"instrument": instrument.id, "before": counts[0], "after": counts[1]})
    return report


def markdown(report: Report) -> str:
    data = report.as_dict()
    lines = [
        f"# The repository from {data['from']} to {data['to']}",
        "",
        f"Changes {data['seq']['before'] + 1} to {data['seq']['after']} of the feed.",
        "",
        "## Records added and updated",
        "",
        "| region | kind | added | updated |",
        "| --- | --- | ---: | ---: |",
        *(f"| {r['region']} | {r['kind']} | {r['added']} | {r['updated']} |" for r in data["records"]),
        "",
        f"Withdrawn: {data['withdrawn']}.",
        "",
        "## Coverage of the conventions",
        "",
        "| instrument | States before | covered before | States after | covered after | partial after |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {c['instrument']} | {c['before']['states']} | {c['before']['covered']} | {c['after']['states']} | "
            f"{c['after']['covered']} | {c['after']['partial']} |"
            for c in data["coverage"]
        ),
        "",
        "## Needs and technical assistance",
        "",
        f"Needs identified: {data['needs']['identified']}. Needs met: {data['needs']['met']}. "
        f"Activities delivered: {data['activities']['delivered']}.",
        "",
        *(f"- {a['title']} ({a['record']}, ended {a['ended']})" for a in data["activities"]["list"]),
    ]
    return "\n".join(lines).rstrip() + "\n"


def csv_text(report: Report) -> str:
    """One row per figure: section, region or instrument, kind or measure, value."""
    data = report.as_dict()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("section", "group", "measure", "value"))
    for r in data["records"]:
        writer.writerow(("records", r["region"], f"{r['kind']} added", r["added"]))
        writer.writerow(("records", r["region"], f"{r['kind']} updated", r["updated"]))
    writer.writerow(("records", "all", "withdrawn", data["withdrawn"]))
    for c in data["coverage"]:
        for moment in ("before", "after"):
            for measure in ("states", "covered", "partial"):
                writer.writerow(("coverage", c["instrument"], f"{measure} {moment}", c[moment][measure]))
    writer.writerow(("needs", "all", "identified", data["needs"]["identified"]))
    writer.writerow(("needs", "all", "met", data["needs"]["met"]))
    writer.writerow(("activities", "all", "delivered", data["activities"]["delivered"]))
    return buffer.getvalue()


def html(report: Report) -> str:
    """A standalone page (its charts are inline SVG), for printing or sending."""
    data = report.as_dict()
    most = max((r["added"] + r["updated"] for r in data["records"]), default=0) or 1
    bars = []
    for index, r in enumerate(data["records"]):
        y = index * 22
        width = 300 * (r["added"] + r["updated"]) / most
        bars.append(
            f'<text x="0" y="{y + 14}">{escape(r["region"])} · {escape(r["kind"])}</text>'
            f'<rect x="170" y="{y + 3}" width="{width:.0f}" height="14" fill="#0b5cad"/>'
            f'<text x="{175 + width:.0f}" y="{y + 14}">{r["added"]} + {r["updated"]}</text>'
        )
    chart = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="560" height="{22 * len(bars) + 4}" role="img" '
        f'aria-label="Records added and updated by region and kind" font-size="12">{"".join(bars)}</svg>'
    )
    rows = "".join(
        f"<tr><th scope='row'>{escape(r['region'])}</th><td>{escape(r['kind'])}</td>"
        f"<td>{r['added']}</td><td>{r['updated']}</td></tr>"
        for r in data["records"]
    )
    coverage = "".join(
        f"<tr><th scope='row'>{escape(c['instrument'])}</th><td>{c['before']['covered']}</td>"
        f"<td>{c['after']['covered']}</td><td>{c['after']['partial']}</td></tr>"
        for c in data["coverage"]
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>The repository from {data['from']} to {data['to']}</title></head><body>"
        f"<h1>The repository from {data['from']} to {data['to']}</h1>"
        f"<h2>Records added and updated</h2>{chart}"
        f"<table><thead><tr><th>region</th><th>kind</th><th>added</th><th>updated</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p>Withdrawn: {data['withdrawn']}.</p>"
        f"<h2>Coverage of the conventions</h2><table><thead><tr><th>instrument</th><th>covered before</th>"
        f"<th>covered after</th><th>partial after</th></tr></thead><tbody>{coverage}</tbody></table>"
        f"<h2>Needs and technical assistance</h2><p>Needs identified: {data['needs']['identified']}. "
        f"Needs met: {data['needs']['met']}. Activities delivered: {data['activities']['delivered']}.</p>"
        "</body></html>"
    )
