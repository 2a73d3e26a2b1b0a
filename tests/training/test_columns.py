"""`Columns`: the pandas-free model input that serving scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.columns import Columns, as_columns


def test_a_name_gives_an_array_and_a_list_of_names_gives_columns() -> None:
    frame = Columns({"description": ["a", "b"], "amount": [1.0, 2.0]})

    assert frame["amount"].tolist() == [1.0, 2.0]
    assert frame[["amount"]].columns == ["amount"]
    assert len(frame) == 2
    assert frame.shape == (2, 2)
    assert "description" in frame
    assert "memo" not in frame


def test_rows_are_taken_repeated_and_concatenated_in_order() -> None:
    frame = Columns({"description": ["a", "b"], "amount": [1.0, 2.0]})

    copies = frame.take([1, 1]).with_columns({"description": ["x", "y"]})
    both = Columns.concat([frame, copies])

    assert both["description"].tolist() == ["a", "b", "x", "y"]
    assert both["amount"].tolist() == [1.0, 2.0, 2.0, 2.0]
    assert frame["description"].tolist() == ["a", "b"]  # copies never write through


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        Columns({"a": [1, 2], "b": [1]})


def test_to_numpy_and_to_frame_match_a_dataframe() -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": [0.5, 1.5]})

    columns = as_columns(frame)

    np.testing.assert_array_equal(columns.to_numpy(np.float64), frame.to_numpy(np.float64))
    pd.testing.assert_frame_equal(columns.to_frame(), frame)
    assert as_columns({"x": [3]})["x"].tolist() == [3]
    assert len(Columns({}, rows=4)) == 4
