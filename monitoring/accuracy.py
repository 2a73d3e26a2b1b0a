"""Accuracy from feedback: how often decisions agreed with the category people sent back.

Pure pandas on a frame of decisions that received feedback (see `monitoring.store`): columns
`category` (what we answered; None for a fallback), `confidence`, `route`, `source` and `truth`
(the corrected category).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.summary import CategoryAccuracy, FeedbackAccuracy
from training.evaluation import _expected_calibration_error as expected_calibration_error

FEEDBACK_COLUMNS = ("category", "confidence", "route", "source", "truth")


def _rate(correct: pd.Series) -> float | None:
    return float(correct.mean()) if len(correct) else None


def feedback_accuracy(feedback: pd.DataFrame) -> FeedbackAccuracy:
    """Overall, per source, auto-routed and per predicted category accuracy, plus ECE.

    Fallback decisions (no category) are counted apart: they predicted nothing to be right about.
    ECE uses the same 10 equal-width bins as training's evaluation.
    """
    if feedback.empty:
        return FeedbackAccuracy.empty()
    answered = feedback["category"].notna() & (feedback["category"].astype(str) != "")
    rows = feedback[answered]
    correct = rows["category"].astype(str) == rows["truth"].astype(str)
    model = (rows["source"] == "model").to_numpy()
    rule = (rows["source"] == "rule").to_numpy()
    auto = (rows["route"] == "auto").to_numpy()
    per_category = tuple(
        CategoryAccuracy(category=str(category), n=len(hits), accuracy=float(hits.mean()))
        for category, hits in correct.groupby(rows["category"].astype(str), sort=True)
    )
    ece = None
    if len(rows):
        confidence = np.clip(rows["confidence"].to_numpy(dtype=float), 0.0, 1.0)
        ece = expected_calibration_error(confidence, correct.to_numpy(dtype=bool))
    return FeedbackAccuracy(
        n_feedback=len(rows),
        n_fallback_feedback=int((~answered).sum()),
        accuracy=_rate(correct),
        model_n=int(model.sum()),
        model_accuracy=_rate(correct[model]),
        rule_n=int(rule.sum()),
        rule_accuracy=_rate(correct[rule]),
        auto_n=int(auto.sum()),
        auto_accuracy=_rate(correct[auto]),
        ece=ece,
        per_category=per_category,
    )
