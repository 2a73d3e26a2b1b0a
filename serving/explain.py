"""Why the model chose a category: the words that carried it, and what is known of the merchant.

Model-agnostic on purpose (the champion may be linear or boosted, with a text prior inside):
a word's weight is how much the chosen category's probability drops when that word is left out
of the description (occlusion), all variants scored in one `predict_proba` call.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from training.columns import Columns

MAX_WORDS = 8  # distinct words tried per description; the first ones carry the merchant
TOP_WORDS = 3
_WORD_PATTERNS = 4096  # compiled whole-word patterns kept (a few KB each)
_WORD = re.compile(r"[^\W\d_][\w'&.-]*", re.UNICODE)
# The merchant features a reviewer can read, as (feature column, label in the explanation).
MERCHANT_EVIDENCE = (
    ("m_txn_count", "transactions_seen"),
    ("m_confirmed_count", "confirmed_labels"),
    ("m_confirmed_top", "confirmed_top_category"),
    ("m_confirmed_top_share", "confirmed_top_share"),
    ("am_last_category", "account_last_category"),
)


def words_of(description: str) -> list[str]:
    """Distinct words of a description (no numbers or masked placeholders), in order."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(description):
        word = match.group(0).strip(".-'&")
        if len(word) > 1 and word.casefold() not in {w.casefold() for w in seen}:
            seen[word] = None
    return list(seen)[:MAX_WORDS]


def without(description: str, word: str) -> str:
    """The description with every occurrence of `word` (case-insensitive, whole word) removed."""
    return " ".join(_whole_word(word).sub(" ", description).split())


@functools.lru_cache(maxsize=_WORD_PATTERNS)
def _whole_word(word: str) -> re.Pattern[str]:
    # Our own cache: the re module's holds 512 patterns for the whole process, so statement
    # words (thousands) compiled a pattern on nearly every call (~0.3 ms of a model decision).
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)


def word_weights(
    model: Any, row: Columns, class_index: int, *, top: int = TOP_WORDS
) -> list[tuple[str, float]]:
    """The words whose removal lowers the chosen class's probability most, strongest first.

    Args:
        model: anything with `predict_proba` over the model input columns.
        row: the one-row model input the decision was made on (with `description`).
        class_index: the chosen class's column in `predict_proba`.
    """
    words, variants = occlusions(row, 0)
    if not words:
        return []
    scored = Columns.concat([row, variants])
    proba = np.asarray(model.predict_proba(scored), dtype=float)[:, class_index]
    return ranked_drops(words, proba[0], proba[1:], top=top)


def occlusions(frame: Columns, row: int) -> tuple[list[str], Columns]:
    """The words of row `row`'s description and one copy of the row without each of them.

    Callers score the copies together with the rows they decide on (one `predict_proba`
    call for both: most of its cost is per call, not per row).
    """
    description = str(frame["description"][row])
    words = words_of(description)
    variants = frame.take([row] * len(words))
    texts = np.array([without(description, w) for w in words], dtype=object)
    return words, variants.with_columns({"description": texts})


def ranked_drops(
    words: list[str], base: float, occluded: np.ndarray, *, top: int = TOP_WORDS
) -> list[tuple[str, float]]:
    """The `top` words by probability drop (`base` minus each word's occluded probability)."""
    drops = base - occluded
    ranked = sorted(zip(words, drops, strict=True), key=lambda pair: -pair[1])
    return [(word, round(float(drop), 4)) for word, drop in ranked[:top] if drop > 0]


def merchant_evidence(features: dict[str, Any]) -> dict[str, Any]:
    """The merchant facts the model saw, under readable names (unknown values left out)."""
    out: dict[str, Any] = {}
    for column, label in MERCHANT_EVIDENCE:
        value = features.get(column)
        if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
            continue
        out[label] = value
    return out
