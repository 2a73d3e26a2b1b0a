"""The fast scoring path computes what sklearn computes, on fitted candidates and random inputs."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix, hstack
from scipy.sparse import random as sparse_random
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from training.boosted import BoostedCandidate
from training.candidates import (
    MODEL_INPUT_COLUMNS,
    LinearCandidate,
    fit_candidate,
    model_columns,
    model_input,
    temper,
    utc_datetime64,
)
from training.columns import Columns, as_columns
from training.prior import PriorModel, fit_prior
from training.scoring import (
    _WEIGHTS,
    PriorReuse,
    block_product,
    column_blocks,
    linear_proba,
    one_hot,
)
from training.synthetic import generated_frame

SEED = 3


@pytest.fixture(scope="module")
def prior() -> PriorModel:
    return fit_prior(1_000, 3)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    """Generated rows with merchant features (some confirmed categories) and primary labels."""
    frame = generated_frame(1_500, seed=SEED)
    rng = np.random.default_rng(SEED)
    inputs = frame[list(MODEL_INPUT_COLUMNS)].copy()
    labels = np.array([c.split("_")[0] for c in frame["label"]], dtype=object)
    known = rng.random(len(frame)) < 0.5
    inputs["m_confirmed_top"] = np.where(known, labels, "")
    inputs["am_last_category"] = np.where(rng.random(len(frame)) < 0.3, labels, "")
    inputs["m_txn_count"] = rng.integers(0, 50, len(frame))
    return inputs, labels


@pytest.fixture(scope="module")
def fitted(prior: PriorModel, data: tuple[pd.DataFrame, np.ndarray]) -> dict[str, Any]:
    inputs, labels = data
    return {
        name: fit_candidate(name, inputs, labels, prior=prior, seed=SEED)
        for name in ("linear", "lightgbm")
    }


def _unseen_rows(inputs: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Rows the models never saw: new merchants, categories no encoder knows, missing MCCs."""
    rng = np.random.default_rng(7)
    out = inputs.sample(rows, random_state=7).reset_index(drop=True)
    out["description"] = [f"ZQX{rng.integers(1_000_000)} NEWSHOP {d}" for d in out["description"]]
    out["m_confirmed_top"] = ["NOT_A_CATEGORY"] * rows
    out.loc[::2, "mcc"] = None
    return out


def _transformer(candidate: Any) -> Any:
    """The fitted ColumnTransformer a candidate builds its feature matrix with."""
    if isinstance(candidate, BoostedCandidate):
        return candidate.text_
    return dict(candidate.pipeline_.steps)["features"]


@pytest.mark.parametrize("name", ["linear", "lightgbm"])
@pytest.mark.parametrize("rows", [1, 6, 300])
def test_feature_matrix_equals_the_column_transformers(
    fitted: dict[str, Any], data: tuple[pd.DataFrame, np.ndarray], name: str, rows: int
) -> None:
    transformer = _transformer(fitted[name])
    for frame in (data[0].iloc[:rows], _unseen_rows(data[0], rows)):
        prepared = model_input(frame)
        expected = transformer.transform(prepared)
        for fast in (
            column_blocks(transformer, prepared),
            column_blocks(transformer, _cols(frame)),
        ):
            assert fast.shape == expected.shape
            np.testing.assert_allclose(fast.toarray(), expected.toarray(), atol=1e-6)


def _cols(frame: pd.DataFrame) -> Columns:
    """The model input of `frame` as serving builds it: `Columns`, UTC datetime64 times."""
    frame = frame.reset_index(drop=True)
    columns = as_columns(frame).with_columns(
        {"event_timestamp": utc_datetime64(frame["event_timestamp"])}
    )
    return model_columns(columns)


@pytest.mark.parametrize("rows", [1, 300])
def test_model_columns_equal_the_model_input_frame(
    data: tuple[pd.DataFrame, np.ndarray], rows: int
) -> None:
    for frame in (data[0].iloc[:rows], _unseen_rows(data[0], rows)):
        expected = model_input(frame.reset_index(drop=True))
        for columns in (_cols(frame), model_columns(frame)):
            assert columns.columns == [str(c) for c in expected.columns]
            for name in expected.columns:
                if name == "event_timestamp":
                    continue  # tz-aware in the frame, UTC datetime64 in Columns
                want = expected[name].to_numpy()
                if want.dtype.kind == "f":
                    np.testing.assert_array_equal(columns[name], want)
                else:
                    assert columns[name].tolist() == want.tolist(), name


def test_reused_prior_features_equal_computed_ones(
    fitted: dict[str, Any], data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    boosted = fitted["lightgbm"]
    frame = model_input(data[0].iloc[:40])
    prior = boosted.prior_.transform(frame)
    reuse = PriorReuse(boosted.prior_, prior)
    np.testing.assert_allclose(
        column_blocks(boosted.text_, frame, prior=reuse).toarray(),
        column_blocks(boosted.text_, frame).toarray(),
    )
    # A prior computed by another transformer is never taken for this one's.
    stranger = PriorReuse(object(), np.zeros_like(prior))
    np.testing.assert_allclose(
        column_blocks(boosted.text_, frame, prior=stranger).toarray(),
        column_blocks(boosted.text_, frame).toarray(),
    )


def test_linear_candidate_probabilities_equal_its_sklearn_pipeline(
    fitted: dict[str, Any], data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    linear: LinearCandidate = fitted["linear"]
    frame = pd.concat([data[0].iloc[:50], _unseen_rows(data[0], 20)], ignore_index=True)
    expected = temper(np.asarray(linear.pipeline_.predict_proba(frame)), linear.temperature_)
    np.testing.assert_allclose(linear.predict_proba(frame), expected, rtol=1e-4, atol=1e-6)


def test_boosted_scores_equal_the_lightgbm_wrapper(
    fitted: dict[str, Any], data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    boosted: BoostedCandidate = fitted["lightgbm"]
    features = np.random.default_rng(0).random((25, boosted.booster_.n_features_in_))
    np.testing.assert_array_equal(
        boosted._scores(features), boosted.booster_.predict(features, raw_score=True)
    )


@pytest.mark.parametrize("classes", [2, 5])
def test_logistic_probabilities_equal_sklearns(classes: int) -> None:
    rng = np.random.default_rng(classes)
    x = csr_matrix(sparse_random(200, 30, density=0.2, random_state=classes))
    y = rng.integers(0, classes, 200)
    model = LogisticRegression(max_iter=200).fit(x, y)
    np.testing.assert_allclose(linear_proba(model, x), model.predict_proba(x), rtol=1e-9)
    model.coef_ = model.coef_.astype(np.float32)  # compacted, as candidates store them
    np.testing.assert_allclose(linear_proba(model, x), model.predict_proba(x), rtol=1e-5)


def test_logistic_weights_are_one_copy_that_is_never_pickled() -> None:
    rng = np.random.default_rng(3)
    x = csr_matrix(sparse_random(100, 20, density=0.3, random_state=3))
    model = LogisticRegression(max_iter=200).fit(x, rng.integers(0, 4, 100))
    model.coef_ = model.coef_.astype(np.float32)
    model.__dict__["_spendlens_weights"] = (model.coef_, model.coef_.T.copy())  # old models
    expected = model.predict_proba(x)

    np.testing.assert_allclose(linear_proba(model, x), expected, rtol=1e-6)

    assert "_spendlens_weights" not in model.__dict__
    assert np.shares_memory(_WEIGHTS[model][1], model.coef_)
    np.testing.assert_allclose(model.predict_proba(x), expected, rtol=1e-12)  # same coef_
    loaded = pickle.loads(pickle.dumps(model))  # noqa: S301 - our own bytes, just made
    assert loaded not in _WEIGHTS
    np.testing.assert_allclose(linear_proba(loaded, x), expected, rtol=1e-6)


def test_one_hot_equals_the_encoder_and_ignores_unknown_values() -> None:
    train = pd.DataFrame({"a": ["x", "y", "z", ""], "b": ["p", "q", "p", "q"]})
    encoder = OneHotEncoder(handle_unknown="ignore", dtype=np.float32).fit(train)
    test = pd.DataFrame({"a": ["y", "new", "", "x"], "b": ["q", "q", "zzz", "p"]})
    fast = one_hot(encoder, test)
    assert fast.dtype == np.float32
    np.testing.assert_array_equal(fast.toarray(), encoder.transform(test).toarray())
    dropping = OneHotEncoder(drop="first").fit(train)  # not the plain case: sklearn computes it
    np.testing.assert_array_equal(
        one_hot(dropping, train).toarray(), dropping.transform(train).toarray()
    )


@pytest.mark.parametrize("name", ["linear", "lightgbm"])
def test_probabilities_from_columns_equal_those_from_the_frame(
    fitted: dict[str, Any], data: tuple[pd.DataFrame, np.ndarray], name: str
) -> None:
    candidate = fitted[name]
    frame = pd.concat([data[0].iloc[:50], _unseen_rows(data[0], 20)], ignore_index=True)
    np.testing.assert_allclose(
        candidate.predict_proba(_cols(frame)), candidate.predict_proba(frame), atol=1e-12
    )


def test_block_product_equals_the_stacked_matrix_product() -> None:
    rng = np.random.default_rng(5)
    blocks = [
        sparse_random(4, 30, density=0.2, format="csr", rng=rng, dtype=np.float32),
        rng.random((4, 3)),  # a dense block, as a step outside the fast path returns
        sparse_random(4, 0, format="csr", rng=rng),
        sparse_random(4, 12, density=0.3, format="coo", rng=rng),
    ]
    weights = rng.random((45, 6)).astype(np.float32)
    stacked = hstack([csr_matrix(b) for b in blocks], format="csr").astype(np.float32)
    np.testing.assert_allclose(block_product(blocks, weights), stacked @ weights, rtol=1e-6)
