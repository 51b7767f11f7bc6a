"""When two versions hold the same content: JSON value equality, as RFC 8785's canonical form judges it."""

from __future__ import annotations

import rfc8785

from exchange.content import comparable, content_sha256

LAW = {"title": {"original": {"lang": "en", "text": "Act"}}, "sections": [1, 2.5], "in_force": True}


def test_member_order_and_number_spelling_do_not_matter() -> None:
    reordered = {"in_force": True, "sections": [1.0, 2.5], "title": {"original": {"text": "Act", "lang": "en"}}}
    assert content_sha256("law/1", LAW) == content_sha256("law/1", reordered)
    assert rfc8785.dumps(LAW) == rfc8785.dumps(reordered)  # as the canonical forms agree


def test_values_that_differ_are_told_apart() -> None:
    base = content_sha256("law/1", LAW)
    for other in (
        {**LAW, "in_force": 1},  # a boolean is not a number
        {**LAW, "sections": [2.5, 1]},  # order within a list counts
        {**LAW, "sections": [1, 2.50001]},
        {**LAW, "title": {"original": {"lang": "en", "text": "Act "}}},
    ):
        assert content_sha256("law/1", other) != base, other
    assert content_sha256("law/2", LAW) != base


def test_retrieved_at_is_not_content_and_non_numbers_have_no_digest() -> None:
    imported = {**LAW, "provenance": {"connector": "akn", "retrieved_at": "2026-01-01T00:00:00Z"}}
    again = {**LAW, "provenance": {"connector": "akn", "retrieved_at": "2026-02-01T00:00:00Z"}}
    assert content_sha256("law/1", imported) == content_sha256("law/1", again)
    assert comparable(imported)["provenance"] == {"connector": "akn"} and "retrieved_at" in imported["provenance"]
    assert content_sha256("law/1", {"n": float("nan")}) is None
