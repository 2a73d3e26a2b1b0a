"""The Evidently adapter on real (small) Evidently runs: drifted vs undrifted data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import monitored_columns, run_drift, summarize
from monitoring.frames import FRAME_COLUMNS
from monitoring.summary import DriftKind, FeedbackAccuracy, MonitorCounts, MonitorSummary, Window

WINDOW = Window(dt.datetime(2026, 11, 20, tzinfo=dt.UTC), dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
COUNTS = MonitorCounts(decisions=1, reference_rows=1)


def frame(n: int, seed: int, *, shifted: bool = False, predictions: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scale = 25.0 if shifted else 1.0
    mostly = [0.1, 0.9] if shifted else [0.9, 0.1]
    confidence = rng.beta(8 if not shifted else 2, 2, n)
    out = pd.DataFrame(
        {
            "amount": rng.lognormal(3.0, 0.5, n) * scale,
            "description_length": rng.integers(10, 30, n).astype(float) * (2 if shifted else 1),
            "merchant_novelty": rng.choice(["seen", "new"], n, p=mostly),
            "mcc_presence": rng.choice(["present", "absent"], n, p=[0.5, 0.5]),
            "currency": rng.choice(["USD", "EUR"], n, p=mostly),
            "category": rng.choice(["coffee", "groceries", "transport"], n).astype(object),
            "confidence": confidence,
            "route": np.where(confidence >= 0.9, "auto", "suggest").astype(object),
            "description": "SHOP",
        }
    )[list(FRAME_COLUMNS)]
    if not predictions:
        out["category"] = None
        out["route"] = None
        out["confidence"] = np.nan
    return out


def summary_of(snapshot: Any) -> MonitorSummary:
    return summarize(snapshot, window=WINDOW, counts=COUNTS, accuracy=FeedbackAccuracy.empty())


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return frame(400, seed=0)


def test_same_distribution_has_a_low_drift_share_and_no_drifted_column(
    reference: pd.DataFrame,
) -> None:
    summary = summary_of(run_drift(reference, frame(400, seed=1)))

    assert summary.drift_share is not None
    assert summary.drift_share < 0.3
    assert [c.column for c in summary.data_drift] == [
        "amount",
        "description_length",
        "merchant_novelty",
        "mcc_presence",
        "currency",
    ]
    assert {c.column for c in summary.prediction_drift} == {"category", "confidence", "route"}
    assert all(c.kind is DriftKind.PREDICTION for c in summary.prediction_drift)
    assert summary.drifted_columns == ()


def test_shifted_data_has_a_high_drift_share_and_names_the_drifted_columns(
    reference: pd.DataFrame,
) -> None:
    summary = summary_of(run_drift(reference, frame(400, seed=1, shifted=True)))

    assert summary.drift_share is not None
    assert summary.drift_share >= 0.8
    drifted = {c.column for c in summary.drifted_columns}
    assert {"amount", "description_length", "merchant_novelty", "currency"} <= drifted
    assert "mcc_presence" not in drifted
    assert "confidence" in drifted
    amount = next(c for c in summary.data_drift if c.column == "amount")
    # Below 1,000 rows Evidently uses p-values: drift means a tiny score.
    assert "p_value" in amount.method
    assert amount.score < amount.threshold


def test_prediction_columns_are_left_out_when_the_window_has_no_model_decisions(
    reference: pd.DataFrame,
) -> None:
    current = frame(200, seed=2, predictions=False)
    assert monitored_columns(reference, current)[1] == []

    summary = summary_of(run_drift(reference, current))

    assert summary.prediction_drift == ()
    assert len(summary.data_drift) == 5


def test_text_column_is_monitored_only_when_asked_for(reference: pd.DataFrame) -> None:
    current = frame(50, seed=3)
    assert "description" not in monitored_columns(reference, current)[0]
    assert "description" in monitored_columns(reference, current, text=True)[0]


def test_summary_round_trips_through_its_json_form(reference: pd.DataFrame) -> None:
    summary = summary_of(run_drift(reference, frame(300, seed=4, shifted=True)))

    assert MonitorSummary.from_dict(summary.as_dict()) == summary


class RecordedSnapshot:
    """A snapshot as Evidently's `.dict()` gives it, without the test verdicts."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def dict(self) -> dict[str, Any]:
        return self.raw


def value_drift(column: str, method: str, threshold: float, score: float) -> dict[str, Any]:
    config = {"type": "evidently:metric_v2:ValueDrift", "column": column, "method": method}
    return {"id": column, "config": {**config, "threshold": threshold}, "value": score}


def test_without_test_verdicts_p_values_drift_below_and_distances_at_or_above_threshold() -> None:
    raw = {
        "metrics": [
            {
                "id": "count",
                "config": {"type": "evidently:metric_v2:DriftedColumnsCount"},
                "value": {"count": 2.0, "share": 0.5},
            },
            value_drift("amount", "K-S p_value", 0.05, 0.01),
            value_drift("currency", "Jensen-Shannon distance", 0.1, 0.1),
            value_drift("mcc_presence", "Jensen-Shannon distance", 0.1, 0.05),
            value_drift("confidence", "K-S p_value", 0.05, 0.5),
        ],
        "tests": [],
    }

    summary = summary_of(RecordedSnapshot(raw))

    assert summary.drift_share == 0.5
    assert {c.column: c.drifted for c in summary.data_drift} == {
        "amount": True,
        "currency": True,
        "mcc_presence": False,
    }
    assert [(c.column, c.drifted) for c in summary.prediction_drift] == [("confidence", False)]
