"""The sample files the README's national walk-through imports are accepted by the importers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def importer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", "import", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("kind", "sample", "extra"),
    [
        ("akn", "schemas/examples/akn/za-act-2020-19.xml", ("--status", "partially_in_force")),
        ("csv", "schemas/examples/csv/laws.csv", ()),
        ("atom", "schemas/examples/atom/legislation-gov-uk.feed.xml", ("--no-akn", "--match", "computer")),
    ],
)
def test_the_readme_sample_is_named_there_and_imports(kind: str, sample: str, extra: tuple[str, ...]) -> None:
    assert f"exchange import {kind} {sample}" in README
    kid = "GBR/2026-01" if kind == "atom" else "ZAF/2026-01"  # the sample feed is the United Kingdom's
    done = importer(kind, sample, *extra, "--kid", kid, "--dry-run", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "1 record(s), 0 with errors" in done.stderr, done.stderr
    assert ": error:" not in done.stderr, done.stderr


def test_the_atom_sample_gives_drafts_for_review(tmp_path: Path) -> None:
    sample = str(ROOT / "schemas/examples/atom/legislation-gov-uk.feed.xml")
    words = ("--match", "cyber,computer,communications data")
    done = importer("atom", sample, *words, "--out", str(tmp_path / "drafts"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "drafts" / "law").iterdir()) == [
        "ukpga-1990-18.json",
        "ukpga-2014-27.json",
    ]
