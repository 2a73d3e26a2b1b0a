"""The platform prior: a text model of the default taxonomy, its features and its disk cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from spendlens.taxonomy import load_default_taxonomy
from training.prior import (
    LinearOvR,
    PriorFeatures,
    PriorModel,
    fit_prior,
    load_or_fit_prior,
    name_crosswalk,
    prior_cache_path,
    prior_text,
    rule_categories,
)

ROWS, SEED = 1_000, 3


@pytest.fixture(scope="module")
def prior() -> PriorModel:
    return fit_prior(ROWS, SEED)


def _rows(*descriptions: str, direction: str = "debit") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "description": list(descriptions),
            "merchant_name": [d.split(" 0")[0] for d in descriptions],
            "direction": direction,
        }
    )


def test_probabilities_are_distributions_and_detailed_refines_primary(prior: PriorModel) -> None:
    frame = _rows("STARBUCKS STORE 01234", "SHELL OIL 55512", "ACME PAYROLL DIR DEP", "XYZZY")
    primary, detailed = prior.probabilities(frame)

    assert primary.shape == (4, 16)
    assert detailed.shape == (4, 104)
    np.testing.assert_allclose(primary.sum(axis=1), 1.0)
    np.testing.assert_allclose(detailed.sum(axis=1), 1.0)
    taxonomy = load_default_taxonomy()
    parent = np.array([prior.primaries.index(taxonomy.primary_of(d)) for d in prior.detailed])
    summed = np.stack([detailed[:, parent == p].sum(axis=1) for p in range(16)], axis=1)
    np.testing.assert_allclose(summed, primary)


def test_detailed_probabilities_are_each_child_models_own_scaled_by_its_parent(
    prior: PriorModel,
) -> None:
    # One parent reduced to a single child class: that class gets all of its parent's mass.
    parent, model = next(iter(prior.child_models.items()))
    single = LinearOvR(model.classes[:1], model.coef[:1], model.intercept[:1])
    changed = dataclasses.replace(prior, child_models={**prior.child_models, parent: single})
    texts = prior_text(_rows("STARBUCKS STORE 01234", "SHELL OIL 55512", "XYZZY"))
    features = changed.features(texts)

    primary, detailed = changed._unique_probabilities(texts)

    for name, child in changed.child_models.items():
        weight = primary[:, [changed.primaries.index(name)]]
        columns = [changed.detailed.index(label) for label in child.classes]
        # The weights are float32 and the vectorizers' blocks are summed one by one: equal
        # to float32 precision, not to the last bit of a single product.
        np.testing.assert_allclose(detailed[:, columns], weight * child.proba(features), rtol=2e-6)
    assert detailed[:, changed.detailed.index(single.classes[0])].tolist() == pytest.approx(
        primary[:, changed.primaries.index(parent)].tolist()
    )


def test_prior_knows_catalog_brands_it_may_not_have_generated(prior: PriorModel) -> None:
    frame = _rows("STARBUCKS STORE 01234", "SHELL OIL 55512", "NETFLIX.COM")
    _, detailed = prior.probabilities(frame)

    best = [prior.detailed[i] for i in detailed.argmax(axis=1)]
    assert best == ["FOOD_AND_DRINK_COFFEE", "TRANSPORTATION_GAS", "ENTERTAINMENT_TV_AND_MOVIES"]


def test_prior_features_are_probabilities_then_the_starter_rule_primary(
    prior: PriorModel,
) -> None:
    frame = _rows("UBER EATS 0123 HELP.UBER.COM", "XYZZY QUUX")
    features = PriorFeatures(prior).fit(frame)

    out = features.transform(frame)
    names = features.get_feature_names_out()

    assert out.shape == (2, 16 + 104 + 16) == (2, len(names))
    assert names[0] == "prior_primary=INCOME"
    assert names[16] == "prior_detailed=INCOME_DIVIDENDS"
    rule = out[:, 120:]
    assert names[120 + int(rule[0].argmax())] == "rule_primary=FOOD_AND_DRINK"
    assert rule[0].sum() == 1.0
    assert rule[1].sum() == 0.0  # no starter rule names this


def test_prior_features_without_rules_and_with_absent_columns(prior: PriorModel) -> None:
    frame = pd.DataFrame({"description": ["WALMART SUPERCENTER 0451"]})

    out = PriorFeatures(prior, rules=False).fit(frame).transform(frame)

    assert out.shape == (1, 120)


def test_rule_categories_name_the_winning_rule_or_none() -> None:
    frame = _rows("UBER EATS 0123", "NOTHING KNOWN HERE")

    assert rule_categories(frame) == ["FOOD_AND_DRINK_RESTAURANT", None]


def test_prior_text_masks_digits_and_joins_the_fields() -> None:
    frame = pd.DataFrame(
        {
            "description": ["Cafe  Rio 0050"],
            "merchant_name": ["CAFE RIO"],
            "mcc_description": [None],
        }
    )

    assert prior_text(frame).tolist() == ["cafe rio 0000 | cafe rio |"]


def test_fitting_is_deterministic_per_seed(prior: PriorModel) -> None:
    frame = _rows("KROGER 0412", "PAYPAL *SOMESHOP 0123", "DIRECT DEP ACME CORP")

    again = fit_prior(ROWS, SEED)

    np.testing.assert_array_equal(again.probabilities(frame)[1], prior.probabilities(frame)[1])


def test_prior_survives_cloudpickle(prior: PriorModel) -> None:
    frame = _rows("TESCO STORES 3012", "AMAZON MKTPLACE PMTS")

    loaded = cloudpickle.loads(cloudpickle.dumps(prior))

    np.testing.assert_array_equal(loaded.probabilities(frame)[1], prior.probabilities(frame)[1])


def test_child_weights_are_held_once_and_pickled_as_float16(prior: PriorModel) -> None:
    frame = _rows("SHELL OIL 55512", "NETFLIX.COM")
    before = prior.probabilities(frame)[1]
    store = prior._children()[0]

    for child in prior.child_models.values():
        assert np.shares_memory(child.coef, store)
    loaded = cloudpickle.loads(cloudpickle.dumps(prior))

    assert {child.coef.dtype for child in loaded.child_models.values()} == {np.dtype(np.float16)}
    np.testing.assert_array_equal(loaded.probabilities(frame)[1], before)


class _CountingFit:
    """A stand-in for `fit_prior` that hands out a ready prior and counts the calls."""

    def __init__(self, prior: PriorModel) -> None:
        self.prior = prior
        self.calls: list[tuple[int, int]] = []

    def __call__(self, rows: int, seed: int) -> PriorModel:
        self.calls.append((rows, seed))
        return self.prior


def test_cached_prior_is_reused_not_refitted(tmp_path: Path, prior: PriorModel) -> None:
    fit = _CountingFit(prior)

    first = load_or_fit_prior(tmp_path / "models", ROWS, SEED, fit=fit)
    path = prior_cache_path(tmp_path / "models", ROWS, SEED)
    written = path.stat().st_mtime_ns
    second = load_or_fit_prior(tmp_path / "models", ROWS, SEED, fit=fit)

    assert fit.calls == [(ROWS, SEED)]
    assert path.name.startswith("prior-")
    assert path.suffix == ".joblib"
    assert path.stat().st_mtime_ns == written
    frame = _rows("STARBUCKS 0001")
    np.testing.assert_array_equal(second.probabilities(frame)[1], first.probabilities(frame)[1])


def test_other_rows_or_seed_get_their_own_cached_prior(tmp_path: Path, prior: PriorModel) -> None:
    fit = _CountingFit(prior)

    load_or_fit_prior(tmp_path, ROWS, SEED, fit=fit)
    load_or_fit_prior(tmp_path, ROWS * 2, SEED, fit=fit)
    load_or_fit_prior(tmp_path, ROWS, SEED + 1, fit=fit)

    assert fit.calls == [(ROWS, SEED), (ROWS * 2, SEED), (ROWS, SEED + 1)]
    assert len(list(tmp_path.glob("prior-*.joblib"))) == 3


def test_unreadable_cache_file_is_refitted(tmp_path: Path, prior: PriorModel) -> None:
    fit = _CountingFit(prior)
    path = prior_cache_path(tmp_path, ROWS, SEED)
    path.write_bytes(b"not a joblib file")

    with pytest.warns(RuntimeWarning, match="unreadable cached prior"):
        load_or_fit_prior(tmp_path, ROWS, SEED, fit=fit)

    assert fit.calls == [(ROWS, SEED)]
    assert isinstance(load_or_fit_prior(tmp_path, ROWS, SEED, fit=fit), PriorModel)
    assert len(fit.calls) == 1


def test_name_crosswalk_maps_default_categories_to_similarly_named_labels() -> None:
    labels = ["Dining", "Gas/Automotive", "Health Care", "Merchandise", "Payment/Credit"]
    shares = np.full(5, 0.2)

    detailed, primary = name_crosswalk(labels, shares)

    taxonomy = load_default_taxonomy()
    detailed_labels = [d for d in taxonomy.leaves() if taxonomy.parent_of(d)]
    np.testing.assert_allclose(detailed.sum(axis=1), 1.0)
    np.testing.assert_allclose(primary.sum(axis=1), 1.0)
    card = detailed[detailed_labels.index("LOAN_PAYMENTS_CREDIT_CARD_PAYMENT")]
    assert labels[int(card.argmax())] == "Payment/Credit"
    merchandise = primary[taxonomy.primaries().index("GENERAL_MERCHANDISE")]
    assert labels[int(merchandise.argmax())] == "Merchandise"


def test_name_crosswalk_falls_back_to_shares_when_names_say_nothing() -> None:
    shares = np.array([0.7, 0.3])

    detailed, _ = name_crosswalk(["qqq", "zzz"], shares)

    np.testing.assert_allclose(detailed, np.tile(shares, (104, 1)))
