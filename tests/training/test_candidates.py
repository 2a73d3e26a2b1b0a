"""The candidate model families learn a tenant's own taxonomy from the model input frame."""

from __future__ import annotations

from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from spendlens.taxonomy import load_default_taxonomy
from training.candidates import (
    CANDIDATES,
    MODEL_FEATURE_COLUMNS,
    MODEL_INPUT_COLUMNS,
    fit_candidate,
    fit_temperature,
    fold_ids,
    holdout_split,
    model_input,
    temper,
)
from training.prior import PriorModel, fit_prior
from training.synthetic import generated_frame

SEED = 5
# A tenant with its own, coarser taxonomy: five labels over the default primaries.
TENANT_LABELS = {
    "FOOD_AND_DRINK": "Food",
    "RENT_AND_UTILITIES": "Bills",
    "LOAN_PAYMENTS": "Bills",
    "BANK_FEES": "Bills",
    "INCOME": "Income",
    "TRANSFER_IN": "Income",
    "GENERAL_MERCHANDISE": "Shopping",
    "HOME_IMPROVEMENT": "Shopping",
}


@pytest.fixture(scope="module")
def prior() -> PriorModel:
    return fit_prior(1_000, 3)


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """(train X, train y, test X, test y): test rows are 20% of merchants plus 10% of rows."""
    frame = generated_frame(2_500, seed=11)
    taxonomy = load_default_taxonomy()
    labels = np.array(
        [TENANT_LABELS.get(taxonomy.primary_of(c), "Other") for c in frame["label"]], dtype=object
    )
    rng = np.random.default_rng(0)
    merchants = frame["merchant_id"].unique()
    unseen = rng.choice(merchants, len(merchants) // 5, replace=False)
    test = frame["merchant_id"].isin(unseen).to_numpy() | (rng.random(len(frame)) < 0.1)
    inputs = frame[list(MODEL_INPUT_COLUMNS)]
    return (
        inputs[~test].reset_index(drop=True),
        labels[~test],
        inputs[test].reset_index(drop=True),
        labels[test],
    )


@pytest.fixture(scope="module")
def fitted(prior: PriorModel, split: tuple[Any, ...]) -> dict[str, Any]:
    train_x, train_y, _, _ = split
    return {
        name: fit_candidate(name, train_x, train_y, prior=prior, seed=SEED) for name in CANDIDATES
    }


@pytest.mark.parametrize("name", CANDIDATES)
def test_candidate_learns_the_tenant_taxonomy(
    name: str, fitted: dict[str, Any], split: tuple[Any, ...]
) -> None:
    _, train_y, test_x, test_y = split
    model = fitted[name]

    predicted = model.predict(test_x)

    majority = pd.Series(train_y).value_counts(normalize=True).iloc[0]
    accuracy = float((predicted == test_y).mean())
    assert majority < 0.5
    assert accuracy > 0.85, f"{name}: accuracy {accuracy:.3f}"


@pytest.mark.parametrize("name", CANDIDATES)
def test_probabilities_sum_to_one_over_the_tenant_labels(
    name: str, fitted: dict[str, Any], split: tuple[Any, ...]
) -> None:
    _, _, test_x, _ = split
    model = fitted[name]

    proba = model.predict_proba(test_x)

    assert list(model.classes_) == ["Bills", "Food", "Income", "Other", "Shopping"]
    assert proba.shape == (len(test_x), 5)
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(test_x), model.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize("name", CANDIDATES)
def test_fitted_candidate_survives_cloudpickle(
    name: str, fitted: dict[str, Any], split: tuple[Any, ...]
) -> None:
    _, _, test_x, _ = split
    model = fitted[name]

    loaded = cloudpickle.loads(cloudpickle.dumps(model))

    np.testing.assert_array_equal(loaded.predict_proba(test_x), model.predict_proba(test_x))


@pytest.mark.parametrize("name", CANDIDATES)
def test_fit_is_deterministic_for_a_seed(
    name: str, prior: PriorModel, fitted: dict[str, Any], split: tuple[Any, ...]
) -> None:
    train_x, train_y, test_x, _ = split

    again = fit_candidate(name, train_x, train_y, prior=prior, seed=SEED)

    np.testing.assert_array_equal(again.predict_proba(test_x), fitted[name].predict_proba(test_x))


@pytest.mark.parametrize("name", CANDIDATES)
def test_a_label_seen_once_is_kept_and_feature_columns_are_used(
    name: str, prior: PriorModel, split: tuple[Any, ...]
) -> None:
    train_x, train_y, test_x, _ = split
    rows = slice(0, 600)
    x = train_x.iloc[rows].copy()
    y = train_y[rows].copy()
    y[0] = "Rare"
    # Feast features as the merchant's history would give them: the confirmed category.
    x["m_confirmed_top"] = np.where(np.arange(len(x)) % 2 == 0, y, "")
    x["m_confirmed_top_share"] = np.where(np.arange(len(x)) % 2 == 0, 0.9, 0.0)
    x["m_confirmed_count"] = 3
    x["am_last_category"] = ""

    model = fit_candidate(name, x, y, prior=prior, seed=SEED)
    proba = model.predict_proba(test_x)  # no feature columns: defaults

    assert "Rare" in model.classes_
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", CANDIDATES)
def test_a_single_label_is_always_predicted(
    name: str, prior: PriorModel, split: tuple[Any, ...]
) -> None:
    train_x, _, test_x, _ = split

    model = fit_candidate(name, train_x.iloc[:50], ["Food"] * 50, prior=prior, seed=SEED)

    assert list(model.predict(test_x.iloc[:3])) == ["Food"] * 3
    np.testing.assert_array_equal(model.predict_proba(test_x.iloc[:3]), np.ones((3, 1)))


def test_unknown_candidate_and_mismatched_lengths_are_refused(
    prior: PriorModel, split: tuple[Any, ...]
) -> None:
    train_x, train_y, _, _ = split

    with pytest.raises(ValueError, match="unknown candidate"):
        fit_candidate("forest", train_x, train_y, prior=prior, seed=SEED)
    with pytest.raises(ValueError, match="rows"):
        fit_candidate("linear", train_x, train_y[:-1], prior=prior, seed=SEED)


def test_model_input_adds_absent_columns_with_defaults_and_derived_ones() -> None:
    frame = pd.DataFrame(
        {
            "description": ["SQ *CAFE 0042"],
            "amount": [-12.5],
            "direction": ["credit"],
            "event_timestamp": [pd.Timestamp("2024-03-02", tz="UTC")],
        }
    )

    out = model_input(frame)

    for column in (*MODEL_INPUT_COLUMNS, *MODEL_FEATURE_COLUMNS):
        assert column in out.columns
    row = out.iloc[0]
    assert row["merchant_name"] == ""
    assert row["m_confirmed_top"] == ""
    assert row["m_txn_count"] == 0
    assert np.isnan(row["m_amount_median"])
    assert row["amount"] == 12.5
    assert row["credit"] == 1.0
    assert row["weekend"] == 1.0  # a Saturday
    assert row["text"] == "sq *cafe 0000 | |"


def test_holdout_keeps_rare_classes_in_training() -> None:
    y = np.array(["a"] * 200 + ["b"] * 2 + ["c"] * 20)

    train, hold = holdout_split(y, 0.15, seed=1)

    assert set(y[train]) == {"a", "b", "c"}
    assert "b" not in set(y[hold])
    assert len(hold) == 30 + 3
    assert len(np.intersect1d(train, hold)) == 0


def test_holdout_is_empty_when_too_small_to_calibrate_on() -> None:
    train, hold = holdout_split(np.array(["a"] * 40 + ["b"] * 40), 0.15, seed=1)

    assert len(hold) == 0
    assert len(train) == 80


def test_folds_are_stratified() -> None:
    y = np.array(["a"] * 30 + ["b"] * 2)

    folds = fold_ids(y, 3, seed=0)

    assert sorted(np.bincount(folds[:30]).tolist()) == [10, 10, 10]
    assert len(set(folds[30:].tolist())) == 2


def test_temperature_softens_overconfident_probabilities() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 500)
    # Right 60% of the time, but always 98% sure.
    guess = np.where(rng.random(500) < 0.6, truth, (truth + 1) % 3)
    proba = np.full((500, 3), 0.01)
    proba[np.arange(500), guess] = 0.98

    t = fit_temperature(proba, truth)
    softened = temper(proba, t)

    assert t > 1.5
    assert 0.5 < softened.max(axis=1).mean() < 0.75
    np.testing.assert_allclose(softened.sum(axis=1), 1.0)
