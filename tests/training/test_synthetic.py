"""Generated transactions as the canonical txn frame with default-taxonomy labels."""

from __future__ import annotations

import pandas as pd

from spendlens.frames import TXN_COLUMNS
from spendlens.taxonomy import load_default_taxonomy
from training.synthetic import generated_frame


def test_generated_frame_has_the_canonical_columns_and_types() -> None:
    frame = generated_frame(300, seed=2)

    assert list(frame.columns) == [*TXN_COLUMNS, "label"]
    assert len(frame) == 300
    assert str(frame["event_timestamp"].dt.tz) == "UTC"
    assert (frame["event_timestamp"] == frame["event_timestamp"].dt.normalize()).all()
    assert frame["amount"].dtype == "float64"
    assert (frame["amount"] > 0).all()
    assert set(frame["direction"]) <= {"debit", "credit"}
    assert frame["merchant_id"].str.startswith("m_").all()
    assert set(frame["label"]) <= set(load_default_taxonomy().leaves())
    with_mcc = frame["mcc"].notna()
    assert frame.loc[with_mcc, "mcc_description"].notna().all()
    assert frame.loc[~with_mcc, "mcc_description"].isna().all()


def test_generated_frame_is_deterministic_per_seed() -> None:
    pd.testing.assert_frame_equal(generated_frame(200, seed=4), generated_frame(200, seed=4))
    assert not generated_frame(200, seed=4).equals(generated_frame(200, seed=5))


def test_amounts_are_major_units_of_the_currency() -> None:
    frame = generated_frame(500, seed=2)

    inr = frame[frame["currency"] == "INR"]
    usd = frame[frame["currency"] == "USD"]
    assert len(inr) > 0
    assert len(usd) > 0
    assert (usd["amount"] * 100).round(6).mod(1).eq(0).all()
