"""Clearing the memos inside a fitted model (a long-running service bounds its memory so)."""

from __future__ import annotations

from typing import Any

import numpy as np


def clear_model_memos(model: Any, *, max_depth: int = 8) -> int:
    """Call `clear_memos()` on every part of `model` that has one (vectorizers, the prior).

    Walks attributes, lists, tuples and dict values (sklearn keeps steps in lists of tuples).

    Returns:
        How many parts were cleared.
    """
    seen: set[int] = set()
    cleared = 0

    def visit(value: Any, depth: int) -> None:
        nonlocal cleared
        if depth > max_depth or id(value) in seen:
            return
        if value is None or isinstance(value, (str, bytes, int, float, bool, np.ndarray)):
            return
        seen.add(id(value))
        clear = getattr(value, "clear_memos", None)
        if callable(clear) and not isinstance(value, type):
            clear()
            cleared += 1
        if isinstance(value, (list, tuple, set, frozenset)):
            children: Any = value
        elif isinstance(value, dict):
            children = value.values()
        else:
            children = getattr(value, "__dict__", {}).values()
        for child in list(children):
            visit(child, depth + 1)

    visit(model, 0)
    return cleared
