"""Word weights of small requests come from the same scoring call as their decisions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np

from serving.explain import occlusions, ranked_drops, word_weights
from serving.runtime import Categorizer, ServingModel
from serving.schemas import CategorizeRequest
from spendlens.normalize.transaction import Normalizer
from training.columns import Columns

CLASSES = ["Food.Groceries", "Travel.Taxi", "Other"]


class CountingModel:
    """Scores a row by the words of its description; counts its calls."""

    classes_ = np.array(CLASSES, dtype=object)

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, frame: Columns) -> np.ndarray[Any, Any]:
        self.calls += 1
        rows = []
        for text in frame["description"]:
            upper = text.upper()
            taxi = 0.5 * ("UBER" in upper) + 0.2 * ("TRIP" in upper)
            market = 0.6 * ("MARKET" in upper)
            rows.append([market + 0.1, taxi + 0.1, 0.2])
        proba = np.array(rows)
        return np.asarray(proba / proba.sum(axis=1, keepdims=True))


def _request(description: str) -> CategorizeRequest:
    return CategorizeRequest(
        description=description, amount=Decimal("-12.00"), date=dt.date(2026, 3, 1)
    )


def test_small_requests_are_scored_and_explained_in_one_model_call() -> None:
    model = CountingModel()
    categorizer = Categorizer(
        tenant="acme", normalizer=Normalizer(), model=ServingModel(model, "m", "1")
    )
    requests = [_request("UBER TRIP 123"), _request("FRESH MARKET")]

    responses = categorizer.categorize(requests)

    assert model.calls == 1
    frame = categorizer.model_input(requests, [categorizer._normalize(0, r) for r in requests])
    for i, response in enumerate(responses):
        best = CLASSES.index(str(response.category))
        expected = word_weights(CountingModel(), frame.take([i]), best)
        assert [(w.word, w.weight) for w in response.explanation.words] == expected
    assert [w.word for w in responses[0].explanation.words] == ["UBER", "TRIP"]


def test_occlusions_leave_out_one_word_per_copy() -> None:
    frame = Columns({"description": ["a", "Blue Bottle blue"], "amount": [1.0, 2.0]})

    words, variants = occlusions(frame, 1)

    assert words == ["Blue", "Bottle"]
    assert variants["description"].tolist() == ["Bottle", "Blue blue"]
    assert variants["amount"].tolist() == [2.0, 2.0]


def test_ranked_drops_keep_only_words_that_lower_the_probability() -> None:
    ranked = ranked_drops(["a", "b", "c"], 0.9, np.array([0.95, 0.2, 0.5]))

    assert ranked == [("b", 0.7), ("c", 0.4)]
