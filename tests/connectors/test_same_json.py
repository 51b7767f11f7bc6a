"""The follower's JSON equality: numbers by value, never a boolean for a number, nor anything for null."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exchange.feedcheck import same_json, same_parsed_json

NAN = float("nan")
INF = float("inf")

CASES: list[tuple[Any, Any, bool]] = [
    ({"a": 1, "b": [1, 2.5, "x", None, True]}, {"b": [1, 2.5, "x", None, True], "a": 1}, True),
    ({"a": 1}, {"a": 1.0}, True),
    ([0.0], [-0.0], True),
    ([1], [True], False),
    ([0], [False], False),
    ({"a": True}, {"a": 1}, False),
    ([1], ["1"], False),
    ([None], [NAN], False),
    ([NAN], [NAN], False),
    ([None], [INF], False),
    ([INF], [INF], True),
    ([INF], [-INF], False),
    ([2**70], [2**70], True),
    ([2**70], [float(2**70)], True),
    (["\ud800"], ["\ud800"], True),
    ({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2, "c": 3}]}, False),
    ({"a": {}}, {"a": []}, False),
]


@pytest.mark.parametrize(("a", "b", "same"), CASES, ids=[json.dumps(c[:2])[:40] for c in CASES])
def test_same_json(a: Any, b: Any, same: bool) -> None:
    assert same_json(a, b) is same
    assert same_json(b, a) is same


@pytest.mark.parametrize(("a", "b", "same"), CASES, ids=[json.dumps(c[:2])[:40] for c in CASES])
def test_same_parsed_json(a: Any, b: Any, same: bool) -> None:
    a, b = _apart(a), _apart(b)
    assert same_parsed_json(a, b) is same_parsed_json(b, a) is same


def _apart(value: Any) -> Any:
    """The value rebuilt, as parsing would: no float object shared with another value."""
    if isinstance(value, dict):
        return {k: _apart(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_apart(v) for v in value]
    return float(repr(value)) if isinstance(value, float) else value
