"""I-JSON parsing at its limits: depth is refused before any recursive parser is reached."""

from __future__ import annotations

import ast

import pytest

from exchange import ijson


@pytest.mark.parametrize("depth", [33, 1500, 100_000])
def test_nesting_beyond_the_limit_is_refused_without_recursing(depth: int) -> None:
    with pytest.raises(ijson.IJSONError, match="nesting deeper than 32 levels"):
        ijson.loads(b"[" * depth + b"]" * depth)
    # the interpreter is left sound: Python source still parses afterwards
    assert isinstance(ast.parse("x = [[[[1]]]]"), ast.Module)


def test_brackets_inside_strings_do_not_count() -> None:
    assert ijson.loads(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [[1]]}') == {
        "a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "b": [[1]],
    }
    assert ijson.loads(b'["\\\\\\"[", 1]') == ['\\"[', 1]
