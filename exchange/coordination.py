"""The coordination view: a State's needs, the activities answering them, what is unmet and what overlaps.

Computed from the current versions of ``need`` and ``assistance`` records (and, for gaps, from the
coverage of the State's laws), so it is as current as the change feed. Pure functions over records:
the route reads, this decides.

- A need is **unmet** while it is open (``identified`` or ``requested``) and no live activity
  (``planned``, ``ongoing`` or ``completed``) answers it.
- A **gap with no need** is a convention article the State's laws do not cover (``unknown`` or
  ``partial``) that no need of the State names, by article or by a vocabulary term mapped to it.
- Two activities are a **possible duplication** when different providers plan or deliver them for the
  same State, in at least one common area (a theme, a subject tag or a convention article), over
  overlapping periods, and neither is cancelled. It is a prompt to talk, not a verdict.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exchange.coverage import terms_in, title_text
from exchange.models import RecordVersion

#: The members of a need or an activity whose vocabulary terms say what area it concerns.
AREA_FIELDS = (
    "themes",
    "offence_categories",
    "ancillary_and_jurisdiction",
    "procedural_powers",
    "cooperation_mechanisms",
)
OPEN_NEEDS = frozenset({"identified", "requested"})
LIVE_ACTIVITIES = frozenset({"planned", "ongoing", "completed"})

Article = tuple[str, str]  # (instrument id, article number)


@dataclass(frozen=True, slots=True)
class Gap:
    """A convention article the State's laws do not cover, as the coverage analysis found it."""

    instrument: str
    article: str
    status: str  # "unknown" or "partial"


def areas(content: Mapping[str, Any]) -> frozenset[str]:
    """Every area a need or an activity names: its terms, and its articles as ``instrument#article``."""
    found = terms_in(content, AREA_FIELDS)
    for instrument, article in articles(content):
        found.add(f"{instrument}#{article}")
    return frozenset(found)


def articles(content: Mapping[str, Any]) -> list[Article]:
    """The convention articles named in ``instrument_refs`` (paragraphs folded into their article)."""
    found: list[Article] = []
    refs = content.get("instrument_refs")
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, dict) and isinstance(ref.get("instrument"), str) and isinstance(ref.get("article"), str):
            found.append((ref["instrument"], ref["article"].partition("(")[0]))
    return found


def period(content: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """An activity's period, actual dates where known, else planned, as full dates (a partial start
    widens to the first day of its year or month, a partial end to the last); None where open."""
    dates = content.get("dates")
    dates = dates if isinstance(dates, dict) else {}
    start = dates.get("actual_start") or dates.get("planned_start")
    end = dates.get("actual_end") or dates.get("planned_end")
    return (_first_day(start) if isinstance(start, str) else None, _last_day(end) if isinstance(end, str) else None)


def _first_day(date: str) -> str:
    return date + "-01-01"[len(date) - 4 :] if len(date) in (4, 7) else date


def _last_day(date: str) -> str:
    if len(date) == 4:
        return f"{date}-12-31"
    if len(date) == 7:
        year, month = int(date[:4]), int(date[5:7])
        return f"{date}-{calendar.monthrange(year, month)[1]:02d}"
    return date


def _overlap(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, str | None] | None:
    """The common part of two periods, or None when they do not meet."""
    (start1, end1), (start2, end2) = period(first), period(second)
    start = max(start1 or "", start2 or "") or None
    ends = [end for end in (end1, end2) if end is not None]
    end = min(ends) if ends else None
    if start is not None and end is not None and start > end:
        return None
    return {"from": start, "to": end}


def _providers(content: Mapping[str, Any]) -> frozenset[str]:
    providers = content.get("providers")
    return frozenset(
        str(p.get("participant") or p.get("name"))
        for p in (providers if isinstance(providers, list) else ())
        if isinstance(p, dict)
    )


def _ref(version: RecordVersion) -> dict[str, Any]:
    return {"record": str(version.key), "version": version.version, "title": title_text(version.content.get("title"))}


def coordinate(
    jurisdiction: str,
    needs: Sequence[RecordVersion],
    activities: Sequence[RecordVersion],
    gaps: Iterable[Gap] = (),
    article_terms: Mapping[Article, frozenset[str]] | None = None,
) -> dict[str, Any]:
    """The coordination view of one State (withdrawn records must already be left out)."""
    answering: dict[str, list[RecordVersion]] = {}
    for activity in activities:
        answers = activity.content.get("answers")
        for answer in answers if isinstance(answers, list) else ():
            if isinstance(answer, dict) and isinstance(answer.get("record"), str):
                answering.setdefault(answer["record"], []).append(activity)

    rows = []
    unmet = []
    for need in needs:
        status = need.content.get("status")
        answered_by = answering.get(str(need.key), [])
        rows.append(
            {
                **_ref(need),
                "status": status,
                "priority": need.content.get("priority"),
                "activities": [
                    {**_ref(a), "status": a.content.get("status"), "providers": sorted(_providers(a.content))}
                    for a in answered_by
                ],
            }
        )
        if status in OPEN_NEEDS and not any(a.content.get("status") in LIVE_ACTIVITIES for a in answered_by):
            unmet.append({**_ref(need), "status": status, "priority": need.content.get("priority")})

    named: set[Article] = set()
    named_terms: set[str] = set()
    for need in needs:
        if need.content.get("status") != "withdrawn":
            named.update(articles(need.content))
            named_terms.update(areas(need.content))
    terms_of = article_terms or {}
    unclaimed = [
        {"instrument": gap.instrument, "article": gap.article, "coverage": gap.status}
        for gap in gaps
        if (gap.instrument, gap.article) not in named
        and not (terms_of.get((gap.instrument, gap.article), frozenset()) & named_terms)
    ]

    live = [a for a in activities if a.content.get("status") != "cancelled"]
    duplicates = []
    for index, first in enumerate(live):
        for second in live[index + 1 :]:
            if _providers(first.content) & _providers(second.content):
                continue
            common = areas(first.content) & areas(second.content)
            overlap = _overlap(first.content, second.content) if common else None
            if overlap is not None:
                duplicates.append(
                    {"activities": [_ref(first), _ref(second)], "areas": sorted(common), "overlap": overlap}
                )

    return {
        "jurisdiction": jurisdiction,
        "needs": rows,
        "unmet": unmet,
        "gaps_without_need": unclaimed,
        "possible_duplicates": duplicates,
        "activities": [
            {
                **_ref(a),
                "status": a.content.get("status"),
                "providers": sorted(_providers(a.content)),
                "types": a.content.get("types", []),
                "period": dict(zip(("from", "to"), period(a.content), strict=True)),
            }
            for a in activities
        ],
    }
