"""The reference and current frames drift compares."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring.frames import (
    FRAME_COLUMNS,
    Thresholds,
    amounts_major,
    current_frame,
    reference_frame,
    would_be_routes,
)
from tests.monitoring.factories import decision

AT = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def test_would_be_routes_follow_the_thresholds_and_skip_missing_confidences() -> None:
    confidence = pd.Series([0.95, 0.9, 0.89, 0.6, 0.59, np.nan])

    routes = would_be_routes(confidence, Thresholds(auto=0.9, suggest=0.6))

    assert routes.tolist() == ["auto", "auto", "suggest", "suggest", "review", None]


def test_amounts_are_absolute_major_units_of_their_currency() -> None:
    amounts = amounts_major(pd.Series([1234, -500, 700]), pd.Series(["USD", "JPY", "KWD"]))

    assert amounts.tolist() == pytest.approx([12.34, 500.0, 0.7])


def test_current_frame_marks_new_merchants_missing_mccs_and_keeps_predictions_of_models_only() -> (
    None
):
    rows = [
        decision(AT, merchant_id="m_1", mcc="5814", amount_minor=2500, confidence=0.7),
        decision(AT, source="rule", merchant_id="m_9", mcc=None, description="ABC"),
    ]
    raw = pd.DataFrame.from_records(
        [
            {
                **{k: r[k] for k in ("created_at", "description", "category", "confidence")},
                **{k: r[k] for k in ("route", "source", "model_version")},
                **{k: r["features"][k] for k in ("merchant_id", "mcc", "amount_minor", "currency")},
            }
            for r in rows
        ]
    )

    frame = current_frame(raw, train_merchants={"m_1", "m_2"})

    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame["merchant_novelty"].tolist() == ["seen", "new"]
    assert frame["mcc_presence"].tolist() == ["present", "absent"]
    assert frame["amount"].tolist() == [25.0, 20.0]
    assert frame["description_length"].tolist() == [len("SHOP 1 BUY XX"), 3]
    assert frame["category"].tolist() == ["coffee", None]
    assert frame["route"].tolist() == ["auto", None]
    assert frame["confidence"].iloc[0] == 0.7
    assert np.isnan(frame["confidence"].iloc[1])


def test_reference_frame_predicts_only_on_held_out_rows_and_routes_them() -> None:
    snapshot = pd.DataFrame(
        {
            "amount": [10.0, 20.0, 30.0],
            "description": ["A", "BB", "CCC"],
            "description_length": [1, 2, 3],
            "merchant_id": ["m_1", "m_2", "m_3"],
            "has_mcc": [True, False, True],
            "currency": ["USD", "USD", "EUR"],
            "direction": ["debit"] * 3,
            "label": ["coffee"] * 3,
            "split": ["train", "heldout", "heldout"],
            "unseen": [False, False, True],
            "predicted_category": [None, "coffee", "groceries"],
            "confidence": [np.nan, 0.95, 0.5],
        }
    )

    frame = reference_frame(snapshot, Thresholds())

    assert frame["merchant_novelty"].tolist() == ["seen", "seen", "new"]
    assert frame["mcc_presence"].tolist() == ["present", "absent", "present"]
    assert frame["category"].tolist() == [None, "coffee", "groceries"]
    assert frame["route"].tolist() == [None, "auto", "review"]
