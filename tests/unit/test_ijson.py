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


def test_a_nul_in_a_string_is_refused_with_its_pointer() -> None:
    with pytest.raises(ijson.IJSONError) as caught:
        ijson.loads(b'{"record": {"title": ["ok", "a\\u0000b"]}}')
    assert caught.value.pointer == "/record/title/1" and "U+0000" in str(caught.value)
    with pytest.raises(ijson.IJSONError):
        ijson.loads(b'{"a\\u0000": 1}')
    assert ijson.loads(b'{"a": "\\\\u0000 written out"}') == {"a": "\\u0000 written out"}  # an escaped backslash
