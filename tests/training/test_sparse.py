"""The numpy-built CSR matrices equal scipy's, entry for entry, dtype included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from training.sparse import FEW_ROWS, csr_from_dense


def _same(ours: csr_matrix, theirs: csr_matrix) -> None:
    assert isinstance(ours, csr_matrix)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_dense_to_csr_is_scipys(dtype: type) -> None:
    rng = np.random.default_rng(4)
    values: np.ndarray = rng.integers(-2, 3, size=(9, 12)).astype(dtype)
    _same(csr_from_dense(values), csr_matrix(values))


def test_dense_to_csr_keeps_nan_and_drops_zeros() -> None:
    values = np.array([[0.0, np.nan, 0.5], [0.0, 0.0, 0.0], [-0.0, 1.0, 0.0]])
    ours = csr_from_dense(values)
    theirs = csr_matrix(values)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.data, theirs.data)  # NaN equals NaN here


def test_dense_to_csr_of_many_rows_or_objects_is_scipys() -> None:
    many = np.eye(FEW_ROWS + 1)
    _same(csr_from_dense(many), csr_matrix(many))
