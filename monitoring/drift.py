"""Evidently 0.7 drift of a window of decisions against the champion's training snapshot.

`run_drift` builds and runs the Report; `summarize` is the only code that reads Evidently's
snapshot, turning it into a `MonitorSummary`. Evidently is imported inside the functions
(`import evidently` costs ~10 s).

Per column, Evidently picks the test by sample size: K-S (numbers) / chi-square or Z (categories)
p-values below 1,000 rows, Wasserstein / Jensen-Shannon distances above; each with its default
threshold. The drift share is over the data columns only (`DriftedColumnsCount`); prediction
columns are reported next to it, so a shift in what the model answers does not hide or inflate
a shift in what it is asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from monitoring.frames import DATA_COLUMNS, PREDICTION_COLUMNS, TEXT_COLUMN
from monitoring.summary import (
    ColumnDrift,
    DriftKind,
    FeedbackAccuracy,
    MonitorCounts,
    MonitorSummary,
    Window,
)

NUMERICAL = ("amount", "description_length", "confidence")
CATEGORICAL = ("merchant_novelty", "mcc_presence", "currency", "category", "route")


def monitored_columns(
    reference: pd.DataFrame, current: pd.DataFrame, *, text: bool = False
) -> tuple[list[str], list[str]]:
    """(data columns, prediction columns) that both frames have values for.

    A prediction column is left out when either side has none (e.g. no model decisions in the
    window): Evidently cannot compare an empty column. The text column joins the data columns
    only when asked for.
    """

    def usable(column: str) -> bool:
        return bool(reference[column].notna().any() and current[column].notna().any())

    data = [c for c in DATA_COLUMNS if usable(c)]
    if text and usable(TEXT_COLUMN):
        data.append(TEXT_COLUMN)
    return data, [c for c in PREDICTION_COLUMNS if usable(c)]


def run_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    drift_share: float = 0.5,
    text: bool = False,
) -> Any:
    """Run the drift Report (with its tests) and return Evidently's Snapshot.

    Args:
        reference, current: frames with `monitoring.frames.FRAME_COLUMNS`.
        drift_share: Evidently's own dataset-drift line in the HTML report.
        text: also test the masked description text for drift (slow: ~10 s per run).
    """
    from evidently import DataDefinition, Dataset, Report  # noqa: PLC0415
    from evidently.metrics import DriftedColumnsCount, ValueDrift  # noqa: PLC0415

    data, prediction = monitored_columns(reference, current, text=text)
    columns = [*data, *prediction]
    definition = DataDefinition(
        numerical_columns=[c for c in NUMERICAL if c in columns],
        categorical_columns=[c for c in CATEGORICAL if c in columns],
        text_columns=[TEXT_COLUMN] if TEXT_COLUMN in columns else [],
    )
    report = Report(
        [
            DriftedColumnsCount(columns=data, drift_share=drift_share),
            *(ValueDrift(column=column) for column in columns),
        ],
        include_tests=True,
    )
    return report.run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )


def _status(value: Any) -> str:
    return str(getattr(value, "value", value)).upper()


def _failed_metric_ids(tests: Iterable[Mapping[str, Any]]) -> set[str]:
    return {
        str(test["metric_config"]["metric_id"])
        for test in tests
        if _status(test.get("status")) == "FAIL" and test.get("metric_config")
    }


def _drifted(method: str, score: float, threshold: float) -> bool:
    # Evidently's rule when no test verdict is present: p-values drift below, distances above.
    if "p_value" in method:
        return score < threshold
    return score >= threshold


def summarize(
    snapshot: Any,
    *,
    window: Window,
    counts: MonitorCounts,
    accuracy: FeedbackAccuracy,
) -> MonitorSummary:
    """The one adapter from an Evidently Snapshot (of `run_drift`) to a `MonitorSummary`.

    A column is drifted when its ValueDrift test failed; without tests, by the method's rule.
    """
    raw: Mapping[str, Any] = snapshot.dict()
    failed = _failed_metric_ids(raw.get("tests") or ())
    drift_share: float | None = None
    data: list[ColumnDrift] = []
    prediction: list[ColumnDrift] = []
    for metric in raw.get("metrics") or ():
        config = metric.get("config") or {}
        kind = str(config.get("type", ""))
        if kind.endswith(":DriftedColumnsCount"):
            drift_share = float(metric["value"]["share"])
        elif kind.endswith(":ValueDrift"):
            column = str(config["column"])
            method = str(config.get("method") or "")
            score = float(metric["value"])
            threshold = float(config.get("threshold") or 0.0)
            drifted = (
                str(metric.get("id")) in failed
                if failed or raw.get("tests")
                else _drifted(method, score, threshold)
            )
            is_prediction = column in PREDICTION_COLUMNS
            entry = ColumnDrift(
                column=column,
                kind=DriftKind.PREDICTION if is_prediction else DriftKind.DATA,
                method=method,
                score=score,
                threshold=threshold,
                drifted=drifted,
            )
            (prediction if is_prediction else data).append(entry)
    return MonitorSummary(
        window=window,
        counts=counts,
        accuracy=accuracy,
        drift_share=drift_share,
        data_drift=tuple(data),
        prediction_drift=tuple(prediction),
    )
