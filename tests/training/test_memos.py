"""Clearing the memos inside a fitted model, wherever its parts keep them."""

from __future__ import annotations

from typing import Any

from training.memos import clear_model_memos
from training.text import FastTfidf

DOCS = ["starbucks store 12", "uber trip", "shell oil 99 | shell |"]


class Holder:
    """A model-like object keeping its parts in attributes, lists of tuples and dicts."""

    def __init__(self, *parts: Any) -> None:
        self.steps = [("first", parts[0])]
        self.named = {"second": parts[1]}
        self.direct = parts[2]
        self.again = parts[0]  # the same part twice is cleared once


def test_every_vectorizer_in_a_model_loses_its_cache() -> None:
    parts = [FastTfidf(kind).fit(DOCS) for kind in ("char", "word", "char")]
    for part in parts:
        part.transform(DOCS)
        assert part._cache()

    assert clear_model_memos(Holder(*parts)) == 3

    assert all("_ids_cache" not in part.__dict__ for part in parts)
    assert parts[0].transform(DOCS).nnz > 0  # and it refills on use


def test_a_model_without_memos_is_left_alone() -> None:
    assert clear_model_memos({"weights": [1.0, 2.0], "name": "x"}) == 0
