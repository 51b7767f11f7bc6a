"""The coverage heatmap as SVG, drawn on the server: States (grouped by region) × convention articles.

Consecutive cells of a row with the same status are drawn as one rectangle, so a matrix of 200 States
by 50 articles stays a few hundred elements. Colours come from the stylesheet (classes, no inline
style, which the Content-Security-Policy forbids); the page beside it carries a table for screen
readers, so the picture itself is marked as an image with a text alternative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

CELL = 14
LABEL = 150
HEADER = 34
GAP = 18


@dataclass(frozen=True, slots=True)
class Row:
    jurisdiction: str
    name: str
    cells: Sequence[str]  # status per article, in article order


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    rows: Sequence[Row]


def _runs(cells: Sequence[str]) -> list[tuple[int, int, str]]:
    runs: list[tuple[int, int, str]] = []
    start = 0
    for index in range(1, len(cells) + 1):
        if index == len(cells) or cells[index] != cells[start]:
            runs.append((start, index - start, cells[start]))
            start = index
    return runs


def svg(articles: Sequence[str], groups: Sequence[Group], title: str) -> Markup:
    """The heatmap, an image: the table beside it carries the links and the figures for screen readers."""
    width = LABEL + CELL * len(articles) + 4
    rows = sum(len(g.rows) for g in groups)
    height = HEADER + rows * CELL + len(groups) * GAP + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
    ]
    for index, number in enumerate(articles):
        x = LABEL + index * CELL + CELL // 2
        top = HEADER - 6
        turn = f"rotate(-60 {x} {top})"
        parts.append(f'<text class="hm-col" x="{x}" y="{top}" transform="{turn}">{escape(number)}</text>')
    y = HEADER
    for group in groups:
        y += GAP
        parts.append(f'<text class="hm-group" x="0" y="{y - 5}">{escape(group.name)}</text>')
        for row in group.rows:
            parts.append(f'<text class="hm-row" x="{LABEL - 4}" y="{y + CELL - 3}">{escape(row.name[:22])}</text>')
            for start, length, status in _runs(row.cells):
                parts.append(
                    f'<rect class="hm-{escape(status)}" x="{LABEL + start * CELL}" y="{y}" '
                    f'width="{length * CELL - 1}" height="{CELL - 1}"/>'
                )
            y += CELL
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every value above went through escape or quoteattr)


def regional_shares(rows: Mapping[str, Sequence[str]], regions: Mapping[str, str]) -> dict[str, tuple[int, int, int]]:
    """region → (covered, partial, unknown) cells over every State of the region."""
    shares: dict[str, list[int]] = {}
    for jurisdiction, cells in rows.items():
        region = regions.get(jurisdiction)
        if region is None:
            continue
        counts = shares.setdefault(region, [0, 0, 0])
        for status in cells:
            counts[("covered", "partial", "unknown").index(status)] += 1
    return {region: (c[0], c[1], c[2]) for region, c in shares.items()}
