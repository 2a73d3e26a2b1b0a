"""The training pipeline's held-out draw is stable across retrains of the same data."""

from __future__ import annotations

import pandas as pd

from training.pipeline import split_keys


def _rows(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "description": ["NETFLIX.COM", "SPOTIFY USA"],
            "amount": [15.49, 9.99],
            "event_timestamp": pd.to_datetime(["2024-03-04", "2024-03-05"], utc=True),
            "account_id": ["1234", "1234"],
        }
    )


def test_a_corrected_decision_keeps_its_split_key_whatever_its_random_id() -> None:
    first = split_keys(_rows(["decision:3f2a", "t-stored"]))
    again = split_keys(_rows(["decision:9c1e", "t-stored"]))
    assert first[0] == again[0]
    assert first[0] != split_keys(_rows(["t-other", "t-stored"]))[0]
    assert list(first[1:]) == ["t-stored"]  # stored transactions keep their id


def test_different_corrected_transactions_get_different_keys() -> None:
    keys = split_keys(_rows(["decision:a", "decision:b"]))
    assert keys[0] != keys[1]
