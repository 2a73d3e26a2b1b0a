"""`with_defaults` / `coerce_feature`: the same types and defaults for frames and Feast lists."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.transforms import FEATURE_COLUMNS, coerce_feature, with_defaults


def test_missing_and_unreadable_values_get_each_kinds_default() -> None:
    frame = pd.DataFrame(
        {
            "m_txn_count": [1, None, "x"],
            "m_amount_median": [2.5, None, "oops"],
            "m_confirmed_top": ["GROCERIES", None, 3],
        },
        index=[7, 8, 9],
    )

    out = with_defaults(frame)

    assert out["m_txn_count"].tolist() == [1, 0, 0]
    assert out["m_txn_count"].dtype == np.int64
    median = out["m_amount_median"].tolist()
    assert median[0] == 2.5
    assert math.isnan(median[1])
    assert math.isnan(median[2])
    assert out["m_confirmed_top"].tolist() == ["GROCERIES", "", "3"]
    assert out["am_confirmed_count"].tolist() == [0, 0, 0]
    assert list(out.index) == [7, 8, 9]


def test_existing_columns_keep_their_place_and_features_are_appended() -> None:
    frame = pd.DataFrame({"key": ["k"], "m_weekend_share": [0.5], "other": [1]})

    out = with_defaults(frame)

    expected = ["key", "m_weekend_share", "other"]
    expected += [c for c in FEATURE_COLUMNS if c != "m_weekend_share"]
    assert list(out.columns) == expected


def test_nullable_pandas_dtypes_are_coerced_like_numpy_ones() -> None:
    frame = pd.DataFrame({"am_last_category_count": pd.array([2, None], dtype="Int64")})

    assert with_defaults(frame)["am_last_category_count"].tolist() == [2, 0]


def test_feast_value_lists_coerce_like_frame_columns() -> None:
    values = [3, None]

    assert coerce_feature(values, "m_confirmed_count").tolist() == [3, 0]
    assert coerce_feature(["A", None], "am_last_category").tolist() == ["A", ""]


_NUMBERS = st.lists(
    st.one_of(
        st.none(),
        st.integers(min_value=-(2**60), max_value=2**60),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.sampled_from(["7", "x", "1.5"]),
    ),
    max_size=6,
)


# The general path casts an infinite count to int64, which numpy warns about; the point here
# is only that both paths give the same array.
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@settings(max_examples=300, deadline=None)
@given(values=_NUMBERS, column=st.sampled_from(FEATURE_COLUMNS))
def test_lists_from_feast_coerce_as_the_general_path_does(
    values: list[object], column: str
) -> None:
    # A list takes the plain-number fast path when it can; an object array never does.
    fast = coerce_feature(values, column)
    general = coerce_feature(np.asarray(values, dtype=object), column)
    assert fast.dtype == general.dtype
    np.testing.assert_array_equal(fast, general)
