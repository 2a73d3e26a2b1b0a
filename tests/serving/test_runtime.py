"""The categorizer with fakes: a tiny model, real compiled rules, a fake feature reader."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.transforms import FEATURE_COLUMNS, feature_defaults
from rules.engine import CompiledRules
from rules.models import Rule, TextCondition
from serving.feature_cache import CachedFeatures
from serving.reload import TenantMismatchError
from serving.routing import Route, RoutingPolicy, Source
from serving.runtime import Categorizer, ServingModel
from serving.schemas import EXPLAIN_MAX_ROWS, CategorizeRequest
from spendlens.normalize.transaction import Normalizer
from spendlens.taxonomy import Category, Taxonomy
from training.candidates import MODEL_INPUT_COLUMNS
from training.columns import Columns

CLASSES = ["Food.Coffee", "Food.Groceries", "Travel.Taxi", "Shopping.Online"]
TAXONOMY = Taxonomy(
    "test",
    1,
    (
        Category("Food", None),
        Category("Travel", None),
        Category("Shopping", None),
        Category("Food.Coffee", "Food"),
        Category("Food.Groceries", "Food"),
        Category("Travel.Taxi", "Travel"),
        Category("Shopping.Online", "Shopping"),
    ),
)


class FakeModel:
    """Probabilities keyed by a word of the description; records what it was given."""

    classes_ = np.array(CLASSES, dtype=object)

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        self.frames.append(frame)
        rows = []
        for text in frame["description"]:
            if "UBER" in text.upper():
                rows.append([0.02, 0.03, 0.93, 0.02])
            elif "MARKET" in text.upper():
                rows.append([0.1, 0.7, 0.1, 0.1])
            else:
                rows.append([0.3, 0.25, 0.2, 0.25])
        return np.array(rows)


class FakeFeatures:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.rows: list[dict[str, Any]] = []

    def __call__(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        if self.fail:
            raise ConnectionError("online store down")
        self.rows.extend(rows)
        values = {**feature_defaults(), "m_txn_count": 42}
        return pd.DataFrame([values] * len(rows))[FEATURE_COLUMNS]


def coffee_rule(confidence: float = 0.95) -> Rule:
    return Rule(
        id="r-coffee",
        name="Starbucks is coffee",
        category="Food.Coffee",
        confidence=confidence,
        conditions=(TextCondition(field="description", op="contains", value="starbucks"),),
    )


def request(description: str, amount: str = "-4.50", **kw: Any) -> CategorizeRequest:
    return CategorizeRequest(
        description=description, amount=Decimal(amount), date=dt.date(2026, 3, 1), **kw
    )


def categorizer(
    *,
    rules: list[Rule] | None = None,
    model: FakeModel | None = None,
    features: FakeFeatures | None = None,
    policy: RoutingPolicy | None = None,
) -> Categorizer:
    return Categorizer(
        tenant="acme",
        normalizer=Normalizer(),
        model=ServingModel(model, "spendlens-acme-default", "7") if model is not None else None,
        rules=CompiledRules.compile(rules) if rules else None,
        features=features,
        taxonomy=TAXONOMY,
        policy=policy or RoutingPolicy(),
    )


def test_matching_rule_decides_and_explains_itself() -> None:
    [out] = categorizer(rules=[coffee_rule()], model=FakeModel()).categorize(
        [request("STARBUCKS STORE 123")]
    )
    assert (out.category, out.primary_category) == ("Food.Coffee", "Food")
    assert out.source is Source.RULE
    assert out.route is Route.AUTO
    assert out.rule_id == "r-coffee"
    assert out.explanation.rule_name == "Starbucks is coffee"
    assert out.explanation.conditions  # the fired condition text
    assert out.model_name is None


def test_weak_rule_is_routed_by_its_confidence() -> None:
    [out] = categorizer(rules=[coffee_rule(0.7)]).categorize([request("STARBUCKS 9")])
    assert (out.source, out.route) == (Source.RULE, Route.SUGGEST)


def test_model_decides_unmatched_rows_with_top_three_alternatives() -> None:
    model = FakeModel()
    outs = categorizer(rules=[coffee_rule()], model=model, features=FakeFeatures()).categorize(
        [request("STARBUCKS 1"), request("UBER TRIP HELP.UBER.COM")]
    )
    assert outs[0].source is Source.RULE
    taxi = outs[1]
    assert (taxi.source, taxi.category, taxi.primary_category) == (
        Source.MODEL,
        "Travel.Taxi",
        "Travel",
    )
    assert taxi.route is Route.AUTO
    assert (taxi.model_name, taxi.model_version) == ("spendlens-acme-default", "7")
    assert [a.category for a in taxi.alternatives] == [
        "Travel.Taxi",
        "Food.Groceries",
        "Food.Coffee",
    ]
    assert taxi.confidence == pytest.approx(0.93)
    # only the unmatched row reached the model, in one call with its explanation's variants:
    # the description, then one variant per word left out: UBER, TRIP, HELP.UBER.COM
    assert len(model.frames) == 1
    assert model.frames[0]["description"].iloc[0] == "UBER TRIP HELP.UBER.COM"
    assert len(model.frames[0]) == 4


def test_model_decision_names_the_words_that_carried_it_and_the_merchant_evidence() -> None:
    [taxi] = categorizer(model=FakeModel(), features=FakeFeatures()).categorize(
        [request("UBER TRIP")]
    )
    words = {w.word: w.weight for w in taxi.explanation.words}
    # Without "UBER" the fake model falls back to its flat answer: 0.93 -> 0.2 for Travel.Taxi.
    assert words == {"UBER": pytest.approx(0.73)}
    assert "transactions_seen" in taxi.explanation.merchant_evidence


def test_large_batches_skip_word_weights_but_keep_the_merchant_evidence() -> None:
    model = FakeModel()
    outs = categorizer(model=model, features=FakeFeatures()).categorize(
        [request(f"UBER TRIP {i}") for i in range(EXPLAIN_MAX_ROWS + 1)]
    )
    assert len(model.frames) == 1  # no explanation scoring
    assert all(out.explanation.words == [] for out in outs)
    assert all(out.explanation.merchant_evidence for out in outs)


def test_model_input_has_training_columns_and_online_features() -> None:
    model, features = FakeModel(), FakeFeatures()
    categorizer(model=model, features=features).categorize(
        [request("FRESH MARKET", amount="-30.00", account="chk-1", mcc="5411")]
    )
    frame = model.frames[0]
    assert list(frame.columns) == [*MODEL_INPUT_COLUMNS, *FEATURE_COLUMNS]
    row = frame.iloc[0]
    assert row["amount"] == pytest.approx(30.0)
    assert row["direction"] == "debit"
    assert row["mcc"] == "5411"
    assert row["m_txn_count"] == 42
    [key] = features.rows
    assert key["tenant"] == "acme"
    assert key["account_id"] == "chk-1"
    assert key["merchant_id"]


class ColumnsModel(FakeModel):
    """A model that reads `Columns`, as the platform's candidates do."""

    reads_columns = True


def test_models_that_read_columns_get_the_same_input_as_frame_models() -> None:
    batch = [request("FRESH MARKET", amount="-30.00", account="chk-1", mcc="5411")]
    by_frame, by_columns = FakeModel(), ColumnsModel()
    for model in (by_frame, by_columns):
        categorizer(model=model, features=FakeFeatures()).categorize(batch)

    frame, columns = by_frame.frames[0], by_columns.frames[0]

    assert isinstance(columns, Columns)
    assert columns.columns == list(frame.columns)
    assert frame["event_timestamp"].iloc[0] == pd.Timestamp("2026-03-01", tz="UTC")
    assert columns["event_timestamp"][0] == np.datetime64("2026-03-01T00:00:00")
    for name in frame.columns.drop("event_timestamp"):
        np.testing.assert_array_equal(columns[name], frame[name].to_numpy(), err_msg=name)


def test_decision_log_keeps_the_model_input_as_json_values() -> None:
    c = categorizer(model=ColumnsModel(), features=FakeFeatures())
    [(_, inputs)] = c.decide([request("FRESH MARKET", amount="-30.00", mcc="5411")])

    logged = inputs.features["model_input"]

    assert "description" not in logged
    assert logged["event_timestamp"] == "2026-03-01T00:00:00.000Z"
    assert logged["amount"] == 30.0
    assert logged["mcc"] == "5411"
    assert logged["m_txn_count"] == 42
    assert isinstance(logged["m_txn_count"], int)
    assert logged["m_amount_median"] is None  # NaN: no history for the merchant
    json.dumps(logged, allow_nan=False)


def test_unavailable_feature_store_falls_back_to_defaults() -> None:
    model = FakeModel()
    c = categorizer(model=model, features=FakeFeatures(fail=True))
    [out] = c.categorize([request("FRESH MARKET")])
    assert out.source is Source.MODEL
    assert out.route is Route.SUGGEST
    assert c.features_degraded
    assert model.frames[0]["m_txn_count"].iloc[0] == feature_defaults()["m_txn_count"]


def test_low_confidence_prediction_goes_to_review() -> None:
    [out] = categorizer(model=FakeModel()).categorize([request("SOMETHING ODD")])
    assert (out.source, out.route) == (Source.MODEL, Route.REVIEW)


def test_without_rule_or_model_the_fallback_goes_to_review() -> None:
    [out] = categorizer().categorize([request("SOMETHING ODD")])
    assert out.source is Source.FALLBACK
    assert out.route is Route.REVIEW
    assert out.category is None
    assert out.confidence == 0.0


def test_amount_above_limit_requires_review_even_for_a_rule_match() -> None:
    policy = RoutingPolicy(review_amount_over=Decimal("100"))
    [out] = categorizer(rules=[coffee_rule()], policy=policy).categorize(
        [request("STARBUCKS", amount="-250.00")]
    )
    assert (out.source, out.route) == (Source.RULE, Route.REVIEW)


def test_pii_is_masked_before_anything_sees_the_text() -> None:
    model = FakeModel()
    [out] = categorizer(model=model).categorize(
        [request("PAYMENT TO JOHN card 4111111111111111 call 415-555-0100")]
    )
    text = model.frames[0]["description"].iloc[0]
    assert "4111111111111111" not in text
    assert "415-555-0100" not in text
    assert out.decision_id
    assert len(out.decision_id) == 32


def test_decision_ids_are_unique() -> None:
    outs = categorizer().categorize([request("A"), request("A")])
    assert outs[0].decision_id != outs[1].decision_id


def test_another_tenant_is_refused() -> None:
    with pytest.raises(TenantMismatchError, match="acme"):
        categorizer().categorize([request("A", tenant="globex")])


def test_readiness_needs_a_model_and_the_database() -> None:
    assert categorizer().health()["ready"] is False
    c = categorizer(model=FakeModel())
    assert c.health() == {"model_loaded": True, "db_reachable": True, "ready": True}
    c.db_check = lambda: False
    assert c.health()["ready"] is False


def test_amount_with_too_many_decimals_is_invalid() -> None:
    with pytest.raises(ValueError, match="decimals"):
        request("A", amount="1.234")


def test_warm_up_scores_a_made_up_transaction_through_the_model_and_features() -> None:
    model, features = FakeModel(), FakeFeatures()
    warmed = categorizer(rules=[coffee_rule()], model=model, features=features)

    warmed.warm_up()

    assert len(model.frames) == 1  # the model was scored once
    assert [row["tenant"] for row in features.rows] == ["acme"]  # and Feast was read
    categorizer(rules=[coffee_rule()]).warm_up()  # without a model: nothing to warm, no error


def test_clearing_the_caches_empties_every_memo_and_changes_no_decision() -> None:
    features = CachedFeatures(FakeFeatures(), 60)
    cat = categorizer(rules=[coffee_rule()], model=FakeModel())
    cat.features = features
    batch = [request("STARBUCKS STORE 12"), request("UBER TRIP 7"), request("SHELL OIL 99")]
    before = [(r.category, r.source, r.confidence) for r in cat.categorize(batch)]
    assert cat.normalizer._mask.cache_info().currsize > 0
    assert _memo_state(cat) is not None
    assert features._entries

    cat.clear_caches()

    assert cat.normalizer._mask.cache_info().currsize == 0
    assert _memo_state(cat) is None
    assert not features._entries
    after = [(r.category, r.source, r.confidence) for r in cat.categorize(batch)]
    assert after == before


def _memo_state(cat: Categorizer) -> object:
    assert cat.rules is not None
    return cat.rules._state
