"""Progress bars go to standard error, and only when it is a terminal."""

from __future__ import annotations

import io

import pytest

from exchange.auditor.run import _progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_standard_error_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    assert list(_progress(iter([1, 2, 3]), True, 3, "entry", "log entries")) == [1, 2, 3]
    assert stderr.getvalue() == ""


def test_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)
    assert list(_progress(iter([1, 2, 3]), True, 3, "entry", "log entries")) == [1, 2, 3]
    assert "log entries" in stderr.getvalue()
    assert capsys.readouterr().out == ""  # never on standard output


def test_no_bar_when_disabled_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)
    assert list(_progress(iter([1]), False, 1, "entry", "log entries")) == [1]
    assert stderr.getvalue() == ""
