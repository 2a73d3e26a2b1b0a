"""Accuracy from feedback against hand-computed values."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.accuracy import FEEDBACK_COLUMNS, feedback_accuracy
from monitoring.summary import CategoryAccuracy, FeedbackAccuracy


def feedback(rows: list[tuple[str | None, float, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=list(FEEDBACK_COLUMNS))


def test_accuracy_by_source_route_and_predicted_category_matches_hand_counts() -> None:
    frame = feedback(
        [
            # category, confidence, route, source, truth
            ("coffee", 0.95, "auto", "model", "coffee"),  # right
            ("coffee", 0.92, "auto", "model", "groceries"),  # wrong
            ("groceries", 0.70, "suggest", "model", "groceries"),  # right
            ("groceries", 0.65, "suggest", "model", "groceries"),  # right
            ("transport", 0.98, "auto", "rule", "transport"),  # right
            ("transport", 0.98, "auto", "rule", "coffee"),  # wrong
            (None, 0.0, "review", "fallback", "coffee"),  # predicted nothing
        ]
    )

    result = feedback_accuracy(frame)

    assert result.n_feedback == 6
    assert result.n_fallback_feedback == 1
    assert result.accuracy == pytest.approx(4 / 6)
    assert (result.model_n, result.rule_n, result.auto_n) == (4, 2, 4)
    assert result.model_accuracy == pytest.approx(3 / 4)
    assert result.rule_accuracy == pytest.approx(1 / 2)
    assert result.auto_accuracy == pytest.approx(2 / 4)
    assert result.per_category == (
        CategoryAccuracy("coffee", 2, 0.5),
        CategoryAccuracy("groceries", 2, 1.0),
        CategoryAccuracy("transport", 2, 0.5),
    )
    # 10 equal-width bins: [0.9, 1.0] holds 0.95, 0.92, 0.98, 0.98 (2 right): |0.5 - 0.9575|;
    # [0.7, 0.8) holds 0.70 (right): |1 - 0.70|; [0.6, 0.7) holds 0.65 (right): |1 - 0.65|.
    expected = (4 * abs(0.5 - 0.9575) + abs(1 - 0.70) + abs(1 - 0.65)) / 6
    assert result.ece == pytest.approx(expected)


def test_no_feedback_gives_empty_accuracy() -> None:
    assert feedback_accuracy(feedback([])) == FeedbackAccuracy.empty()


def test_only_fallback_feedback_has_no_accuracy_but_is_counted() -> None:
    result = feedback_accuracy(feedback([(None, 0.0, "review", "fallback", "coffee")]))

    assert result.n_fallback_feedback == 1
    assert result.n_feedback == 0
    assert result.accuracy is None
    assert result.ece is None
