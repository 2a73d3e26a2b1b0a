"""Typed results of a monitoring run: what drifted, how accurate feedback says we are, counts.

Plain frozen dataclasses with `as_dict` (JSON-ready) and `from_dict`, so the summary can be
stored in `monitor_runs.summary`, logged to MLflow and read back without Evidently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class DriftKind(StrEnum):
    """Whether a monitored column describes the input data or the model's predictions."""

    DATA = "data"
    PREDICTION = "prediction"


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one column: the test, its score and threshold, drifted or not.

    For p-value tests (small samples) drift means score < threshold; for distances (Wasserstein,
    Jensen-Shannon; Evidently picks them above 1,000 rows) it means score >= threshold.
    """

    column: str
    kind: DriftKind
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class Window:
    """The half-open time range [start, end) of the decisions a run looked at."""

    start: dt.datetime
    end: dt.datetime

    @property
    def hours(self) -> float:
        """Length of the window in hours."""
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class CategoryAccuracy:
    """Accuracy of the decisions that predicted one category (precision of that category)."""

    category: str
    n: int
    accuracy: float


@dataclass(frozen=True)
class FeedbackAccuracy:
    """Accuracy of decisions measured against the corrections people sent.

    Only decisions with a category count (a fallback decision predicted nothing); accuracies are
    None when no such decision had feedback. Biased low: people correct wrong answers more often
    than they confirm right ones.
    """

    n_feedback: int
    n_fallback_feedback: int
    accuracy: float | None
    model_n: int
    model_accuracy: float | None
    rule_n: int
    rule_accuracy: float | None
    auto_n: int
    auto_accuracy: float | None
    ece: float | None
    per_category: tuple[CategoryAccuracy, ...] = ()

    @classmethod
    def empty(cls) -> FeedbackAccuracy:
        """No decision had feedback."""
        return cls(0, 0, None, 0, None, 0, None, 0, None, None)


@dataclass(frozen=True)
class MonitorCounts:
    """How many decisions the window held, by source and route."""

    decisions: int
    reference_rows: int
    by_source: dict[str, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)
    new_merchant_share: float | None = None


@dataclass(frozen=True)
class MonitorSummary:
    """Everything one monitoring run concluded, independent of Evidently's own format."""

    window: Window
    counts: MonitorCounts
    accuracy: FeedbackAccuracy
    drift_share: float | None = None
    data_drift: tuple[ColumnDrift, ...] = ()
    prediction_drift: tuple[ColumnDrift, ...] = ()

    @property
    def drifted_columns(self) -> tuple[ColumnDrift, ...]:
        """Every data or prediction column Evidently found drifted."""
        return tuple(c for c in (*self.data_drift, *self.prediction_drift) if c.drifted)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes as ISO strings, enums as values)."""
        raw = asdict(self)
        raw["window"] = {
            "start": self.window.start.isoformat(),
            "end": self.window.end.isoformat(),
        }
        for key in ("data_drift", "prediction_drift"):
            for column in raw[key]:
                column["kind"] = str(column["kind"])
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MonitorSummary:
        """Inverse of `as_dict`."""
        accuracy = dict(raw["accuracy"])
        accuracy["per_category"] = tuple(
            CategoryAccuracy(**row) for row in accuracy.get("per_category", ())
        )
        return cls(
            window=Window(
                dt.datetime.fromisoformat(raw["window"]["start"]),
                dt.datetime.fromisoformat(raw["window"]["end"]),
            ),
            counts=MonitorCounts(**raw["counts"]),
            accuracy=FeedbackAccuracy(**accuracy),
            drift_share=raw.get("drift_share"),
            data_drift=tuple(_column(c) for c in raw.get("data_drift", ())),
            prediction_drift=tuple(_column(c) for c in raw.get("prediction_drift", ())),
        )


def _column(raw: dict[str, Any]) -> ColumnDrift:
    return ColumnDrift(**{**raw, "kind": DriftKind(raw["kind"])})
