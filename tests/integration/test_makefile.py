"""The README's two set-up commands: serving installs the service alone; testing adds the test extra."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _plan(target: str, tmp_path: Path) -> str:
    if shutil.which("make") is None:
        pytest.fail("make is not installed; the README's set-up commands need it")
    result = subprocess.run(
        ["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_make_serve_installs_only_what_serving_needs(tmp_path: Path) -> None:
    plan = _plan("serve", tmp_path)
    installs = [line for line in plan.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert installs == [f"{tmp_path / 'venv'}/bin/pip install --quiet -e ."]
    assert "exchange serve --port 8080" in plan


def test_make_test_installs_the_test_extra(tmp_path: Path) -> None:
    plan = _plan("test", tmp_path)
    assert f"{tmp_path / 'venv'}/bin/pip install --quiet -e '.[test]'" in plan.splitlines()
