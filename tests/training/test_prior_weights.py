"""The prior's linear models convert their float16 weights once, and pickle without the copy."""

from __future__ import annotations

import pickle

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse import random as sparse_random

from training.prior import LinearOvR


def _model() -> LinearOvR:
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(3, 40)).astype(np.float16)
    return LinearOvR(("a", "b", "c"), coef, rng.normal(size=3))


def _features() -> csr_matrix:
    return sparse_random(5, 40, density=0.3, format="csr", random_state=1)


def _reference_proba(model: LinearOvR, features: csr_matrix) -> np.ndarray:
    """What `proba` computed before the float32 copy was cached."""
    weights = model.coef.astype(np.float32)
    scores = np.asarray(features @ weights.T, dtype=np.float64) + model.intercept
    odds = 1.0 / (1.0 + np.exp(-np.clip(scores, -30.0, 30.0)))
    return np.asarray(odds / odds.sum(axis=1, keepdims=True))


def test_cached_weights_give_exactly_the_probabilities_of_a_fresh_conversion() -> None:
    model, features = _model(), _features()

    first = model.proba(features)
    second = model.proba(features)

    assert np.array_equal(first, _reference_proba(model, features))
    assert np.array_equal(first, second)


def test_a_pickled_model_leaves_the_float32_copy_out_and_rebuilds_it() -> None:
    model, features = _model(), _features()
    expected = model.proba(features)  # creates the copy

    restored = pickle.loads(pickle.dumps(model))  # noqa: S301 - our own bytes, just made

    assert "_weights_f32" not in restored.__dict__
    assert np.array_equal(restored.proba(features), expected)


def test_a_model_pickled_without_the_cache_attribute_still_loads_and_predicts() -> None:
    model, features = _model(), _features()
    # What a registry pickle of the old class holds: only the dataclass fields.
    old_state = {"classes": model.classes, "coef": model.coef, "intercept": model.intercept}
    restored = LinearOvR.__new__(LinearOvR)
    restored.__dict__.update(old_state)

    assert np.array_equal(restored.proba(features), _reference_proba(model, features))
