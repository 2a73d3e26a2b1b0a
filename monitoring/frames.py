"""The two frames drift compares: the champion's training snapshot and a window of decisions.

Both get the same columns (pure pandas, no Evidently):

* data: `amount` (major units, absolute), `description_length`, `merchant_novelty`
  ("new" when the merchant was not among the champion's training merchants, else "seen"),
  `mcc_presence` ("present"/"absent"), `currency`;
* prediction: `category`, `confidence`, `route`, set on MODEL decisions only (rule and fallback
  decisions leave them empty). The reference's predictions are the champion's on its held-out
  rows, and its `route` is the route those confidences would have taken under the routing
  thresholds (auto >= auto_threshold, suggest >= suggest_threshold, else review);
* `description` (masked text) only for the optional text drift.

Why model decisions only: the reference describes the model, while rule decisions have their own
(fixed) confidences and routes; mixing them in would report a change in the rule set as model
drift. The source mix of the window is reported as plain counts instead.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from spendlens.money import currency_exponent

NUMERICAL_DATA = ("amount", "description_length")
CATEGORICAL_DATA = ("merchant_novelty", "mcc_presence", "currency")
DATA_COLUMNS = (*NUMERICAL_DATA, *CATEGORICAL_DATA)
PREDICTION_COLUMNS = ("category", "confidence", "route")
TEXT_COLUMN = "description"
FRAME_COLUMNS = (*DATA_COLUMNS, *PREDICTION_COLUMNS, TEXT_COLUMN)
# What the decisions loader must provide (see monitoring.store.load_decisions).
DECISION_COLUMNS = (
    "created_at",
    "description",
    "category",
    "confidence",
    "route",
    "source",
    "model_version",
    "merchant_id",
    "mcc",
    "amount_minor",
    "currency",
)
MODEL_SOURCE = "model"


@dataclass(frozen=True)
class Thresholds:
    """The serving routing thresholds the reference's would-be routes are computed with."""

    auto: float = 0.9
    suggest: float = 0.6


def would_be_routes(confidence: pd.Series, thresholds: Thresholds) -> pd.Series:
    """auto / suggest / review per confidence; None where the confidence is missing."""
    values = confidence.to_numpy(dtype=float)
    below_auto = np.where(values >= thresholds.suggest, "suggest", "review")
    routes = np.where(values >= thresholds.auto, "auto", below_auto).astype(object)
    routes[np.isnan(values)] = None
    return pd.Series(routes, index=confidence.index, dtype=object)


def _presence(values: pd.Series) -> npt.NDArray[Any]:
    present = values.notna() & (values.astype(str).str.strip() != "")
    return np.where(present.to_numpy(), "present", "absent").astype(object)


def _novelty(merchant_ids: pd.Series, train_merchants: Collection[str]) -> npt.NDArray[Any]:
    known = merchant_ids.isin(set(train_merchants)).to_numpy()
    return np.where(known, "seen", "new").astype(object)


def reference_frame(snapshot: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """The drift reference from a training snapshot (`training.pipeline.reference_snapshot`)."""
    has_prediction = snapshot["predicted_category"].notna()
    confidence = snapshot["confidence"].astype(float).where(has_prediction)
    return pd.DataFrame(
        {
            "amount": snapshot["amount"].astype(float).abs(),
            "description_length": snapshot["description_length"].astype(float),
            "merchant_novelty": np.where(snapshot["unseen"].astype(bool), "new", "seen").astype(
                object
            ),
            "mcc_presence": np.where(snapshot["has_mcc"].astype(bool), "present", "absent").astype(
                object
            ),
            "currency": snapshot["currency"].astype(str),
            "category": snapshot["predicted_category"].where(has_prediction, None).astype(object),
            "confidence": confidence,
            "route": would_be_routes(confidence, thresholds),
            "description": snapshot.get("description", pd.Series("", index=snapshot.index))
            .fillna("")
            .astype(str),
        }
    )[list(FRAME_COLUMNS)]


def amounts_major(amount_minor: pd.Series, currency: pd.Series) -> pd.Series:
    """Absolute amounts in major units from minor units and their currencies."""
    exponents = currency.fillna("").map(lambda code: currency_exponent(str(code)))
    minor = pd.to_numeric(amount_minor, errors="coerce").astype(float).abs()
    return minor / np.power(10.0, exponents.astype(float))


def current_frame(decisions: pd.DataFrame, train_merchants: Collection[str]) -> pd.DataFrame:
    """The drift frame of a window of decisions (columns: `DECISION_COLUMNS`)."""
    is_model = (decisions["source"] == MODEL_SOURCE).to_numpy()
    confidence = decisions["confidence"].astype(float).where(is_model)
    description = decisions["description"].fillna("").astype(str)
    return pd.DataFrame(
        {
            "amount": amounts_major(decisions["amount_minor"], decisions["currency"]),
            "description_length": description.str.len().astype(float),
            "merchant_novelty": _novelty(decisions["merchant_id"], train_merchants),
            "mcc_presence": _presence(decisions["mcc"]),
            "currency": decisions["currency"].fillna("").astype(str),
            "category": decisions["category"].where(is_model, None).astype(object),
            "confidence": confidence,
            "route": decisions["route"].where(is_model, None).astype(object),
            "description": description,
        },
        index=decisions.index,
    )[list(FRAME_COLUMNS)].reset_index(drop=True)


def empty_decisions() -> pd.DataFrame:
    """A decisions frame with no rows and every column `current_frame` reads."""
    return pd.DataFrame({column: pd.Series(dtype=object) for column in DECISION_COLUMNS})
