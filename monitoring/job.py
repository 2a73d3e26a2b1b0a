"""One monitoring run of a tenant's taxonomy: drift, accuracy from feedback, retrain decision.

`run_monitor` is what the CLI (`spendlens monitor`) and the Prefect flow call. It never raises
for the expected empty cases (no champion, no reference snapshot, no decisions in the window):
the result's `status` says which, and the decision explains it.

Outputs of a run, under `<state_dir>/reports/monitoring/<tenant>/<taxonomy>/<UTC stamp>/`:
`summary.json` always, `report.html` (Evidently) when drift was computed; both are logged as
artifacts `monitoring/...` of an MLflow run (tag `spendlens.kind=monitoring`) in the tenant's
experiment, and a `monitor_runs` row keeps the summary, decision and reason.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitoring.accuracy import feedback_accuracy
from monitoring.frames import Thresholds, current_frame, reference_frame
from monitoring.policy import RetrainDecision, TriggerPolicy, decide
from monitoring.reference import Champion, NoReferenceError, find_champion, load_reference
from monitoring.store import (
    count_new_feedback,
    load_decisions,
    load_feedback,
    record_monitor_run,
    require_tenant,
)
from monitoring.summary import FeedbackAccuracy, MonitorCounts, MonitorSummary, Window
from spendlens.settings import Settings

KIND_TAG = "spendlens.kind"
KIND = "monitoring"
ARTIFACT_DIR = "monitoring"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class MonitorStatus(StrEnum):
    """How far a run got."""

    OK = "ok"  # drift and accuracy computed
    NO_CHAMPION = "no_champion"  # nothing serves: nothing to monitor
    NO_REFERENCE = "no_reference"  # the champion has no training snapshot: accuracy only
    NO_DECISIONS = "no_decisions"  # no decisions in the window: accuracy only


@dataclass(frozen=True)
class MonitorResult:
    """What one monitoring run found, decided and wrote."""

    status: MonitorStatus
    tenant: str
    taxonomy: str
    window: Window
    decision: RetrainDecision
    summary: MonitorSummary | None = None
    champion: Champion | None = None
    new_feedback: int = 0
    note: str = ""
    json_path: Path | None = None
    html_path: Path | None = None
    mlflow_run_id: str | None = None
    monitor_run_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def retrain(self) -> bool:
        """Whether the trigger policy asks for a new model."""
        return self.decision.retrain

    def as_dict(self) -> dict[str, Any]:
        """The JSON document saved as `summary.json` and in `monitor_runs.summary`."""
        champion = self.champion
        return {
            "status": str(self.status),
            "tenant": self.tenant,
            "taxonomy": self.taxonomy,
            "window": {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
            "note": self.note,
            "champion": None
            if champion is None
            else {
                "name": champion.name,
                "version": champion.version,
                "run_id": champion.run_id,
                "trained_at": champion.trained_at.isoformat(),
                "accuracy": champion.accuracy,
            },
            "new_feedback": self.new_feedback,
            "decision": {
                "retrain": self.decision.retrain,
                "triggers": list(self.decision.triggers),
                "reasons": list(self.decision.reasons),
            },
            "summary": None if self.summary is None else self.summary.as_dict(),
        }


def _default_thresholds(settings: Settings, tenant: str) -> Thresholds:
    """The tenant's routing thresholds, as the service applies them."""
    from serving.loading import default_policy  # noqa: PLC0415
    from serving.routing import policy_of  # noqa: PLC0415

    policy = policy_of(default_policy(settings), settings.routing_overrides, tenant)
    return Thresholds(auto=policy.auto_threshold, suggest=policy.suggest_threshold)


def _counts(decisions: Any, current: Any, reference_rows: int) -> MonitorCounts:
    if current is None or len(current) == 0:
        new_share = None
    else:
        new_share = float((current["merchant_novelty"] == "new").mean())
    return MonitorCounts(
        decisions=len(decisions),
        reference_rows=reference_rows,
        by_source={str(k): int(v) for k, v in decisions["source"].value_counts().items()},
        by_route={str(k): int(v) for k, v in decisions["route"].value_counts().items()},
        new_merchant_share=new_share,
    )


def run_monitor(
    settings: Settings,
    sessions: sessionmaker[Session],
    tenant: str,
    taxonomy: str,
    now: dt.datetime | None = None,
    *,
    hours: float | None = None,
    policy: TriggerPolicy | None = None,
    thresholds: Thresholds | None = None,
    text_drift: bool | None = None,
    log_to_mlflow: bool = True,
) -> MonitorResult:
    """Monitor the champion of `tenant`/`taxonomy` over the last `hours` of decisions.

    Args:
        now: end of the window (default: the current time, UTC).
        hours: window length (default `settings.monitor_window_hours`); accuracy from feedback
            looks at `settings.monitor_feedback_window_hours` instead.
        policy: retrain triggers (default from settings).
        thresholds: routing thresholds for the reference's would-be routes (default: serving's).
        text_drift: also test description text drift (default `settings.monitor_text_drift`).
        log_to_mlflow: log the MLflow monitoring run (the files and the row are always written).

    Raises:
        TenantError: the tenant does not exist.
    """
    require_tenant(sessions, tenant)
    end = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    window = Window(end - dt.timedelta(hours=hours or settings.monitor_window_hours), end)
    feedback_window = Window(end - dt.timedelta(hours=settings.monitor_feedback_window_hours), end)
    policy = policy or TriggerPolicy.from_settings(settings)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    champion = find_champion(settings, tenant, taxonomy)
    if champion is None:
        decision = RetrainDecision(
            retrain=False,
            reasons=(
                f"no champion model for tenant {tenant!r} taxonomy {taxonomy!r}: "
                "train and promote one first (spendlens train, spendlens promote)",
            ),
        )
        result = MonitorResult(MonitorStatus.NO_CHAMPION, tenant, taxonomy, window, decision)
        return _store(settings, sessions, result, None, log_to_mlflow=False, timings=timings)
    decisions = load_decisions(sessions, tenant, window)
    status, note, reference = MonitorStatus.OK, "", None
    try:
        reference = load_reference(settings, champion)
    except NoReferenceError as exc:
        status, note = MonitorStatus.NO_REFERENCE, str(exc)
    timings["load_s"] = time.perf_counter() - started

    started = time.perf_counter()
    accuracy: FeedbackAccuracy = feedback_accuracy(
        load_feedback(sessions, tenant, taxonomy, feedback_window)
    )
    new_feedback = count_new_feedback(sessions, tenant, taxonomy, champion.trained_at)
    timings["accuracy_s"] = time.perf_counter() - started

    snapshot, current = None, None
    reference_rows = 0 if reference is None else len(reference.frame)
    if reference is not None and len(decisions) == 0:
        status = MonitorStatus.NO_DECISIONS
        note = f"no decisions between {window.start.isoformat()} and {window.end.isoformat()}"
    elif reference is not None:
        from monitoring.drift import run_drift  # noqa: PLC0415 - imports Evidently

        started = time.perf_counter()
        ref = reference_frame(reference.frame, thresholds or _default_thresholds(settings, tenant))
        current = current_frame(decisions, reference.train_merchants)
        snapshot = run_drift(
            ref,
            current,
            drift_share=policy.drift_share_threshold,
            text=settings.monitor_text_drift if text_drift is None else text_drift,
        )
        timings["drift_s"] = time.perf_counter() - started
    counts = _counts(decisions, current, reference_rows)
    if snapshot is not None:
        from monitoring.drift import summarize  # noqa: PLC0415

        summary = summarize(snapshot, window=window, counts=counts, accuracy=accuracy)
    else:
        summary = MonitorSummary(window=window, counts=counts, accuracy=accuracy)
    decision = decide(summary, champion.accuracy, new_feedback, policy)
    result = MonitorResult(
        status=status,
        tenant=tenant,
        taxonomy=taxonomy,
        window=window,
        decision=decision,
        summary=summary,
        champion=champion,
        new_feedback=new_feedback,
        note=note,
    )
    return _store(
        settings, sessions, result, snapshot, log_to_mlflow=log_to_mlflow, timings=timings
    )


def report_dir(settings: Settings, tenant: str, taxonomy: str, end: dt.datetime) -> Path:
    """`<state_dir>/reports/monitoring/<tenant>/<taxonomy>/<UTC stamp of the window end>`."""
    stamp = end.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    safe = [_UNSAFE.sub("_", part).strip(".") or "_" for part in (tenant, taxonomy)]
    return settings.state_dir / "reports" / "monitoring" / safe[0] / safe[1] / stamp


def _store(
    settings: Settings,
    sessions: sessionmaker[Session],
    result: MonitorResult,
    snapshot: Any,
    *,
    log_to_mlflow: bool,
    timings: dict[str, float],
) -> MonitorResult:
    """Write summary.json (+ report.html), log them to MLflow, store the monitor_runs row."""
    started = time.perf_counter()
    folder = report_dir(settings, result.tenant, result.taxonomy, result.window.end)
    folder.mkdir(parents=True, exist_ok=True)
    html_path = None
    if snapshot is not None:
        html_path = folder / "report.html"
        snapshot.save_html(str(html_path))
    json_path = folder / "summary.json"
    document = result.as_dict()
    json_path.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
    timings["report_s"] = time.perf_counter() - started

    run_id = None
    if log_to_mlflow and result.champion is not None:
        started = time.perf_counter()
        run_id = _log_run(settings, result, json_path, html_path)
        timings["log_s"] = time.perf_counter() - started
    champion = result.champion
    row_id = record_monitor_run(
        sessions,
        tenant=result.tenant,
        taxonomy=result.taxonomy,
        created_at=result.window.end,
        model_name=None if champion is None else champion.name,
        model_version=None if champion is None else champion.version,
        summary=document,
        retrain=result.retrain,
        reason=result.decision.reason,
        report_path=str(html_path or json_path),
        mlflow_run_id=run_id,
    )
    return replace(
        result,
        json_path=json_path,
        html_path=html_path,
        mlflow_run_id=run_id,
        monitor_run_id=row_id,
        timings={key: round(value, 3) for key, value in timings.items()},
    )


def _metrics(result: MonitorResult) -> dict[str, float]:
    metrics: dict[str, float] = {
        "retrain": float(result.retrain),
        "new_feedback": float(result.new_feedback),
    }
    summary = result.summary
    if summary is None:
        return metrics
    metrics["decisions"] = float(summary.counts.decisions)
    if summary.drift_share is not None:
        metrics["drift_share"] = summary.drift_share
    for column in (*summary.data_drift, *summary.prediction_drift):
        metrics[f"drift_score.{column.column}"] = column.score
    accuracy = summary.accuracy
    metrics["feedback_n"] = float(accuracy.n_feedback)
    for key, value in (
        ("feedback_accuracy", accuracy.accuracy),
        ("feedback_model_accuracy", accuracy.model_accuracy),
        ("feedback_auto_accuracy", accuracy.auto_accuracy),
        ("feedback_ece", accuracy.ece),
    ):
        if value is not None:
            metrics[key] = value
    return metrics


def _log_run(
    settings: Settings, result: MonitorResult, json_path: Path, html_path: Path | None
) -> str:
    """An MLflow run in the tenant's experiment with the summary metrics and both files."""
    import math  # noqa: PLC0415

    from mlflow.entities import Metric, RunStatus  # noqa: PLC0415

    from training.tracking import experiment_for, tracking_client  # noqa: PLC0415

    champion = result.champion
    assert champion is not None  # noqa: S101 - the caller checked
    client = tracking_client(settings)
    experiment_id = experiment_for(settings, result.tenant, result.taxonomy)
    tags = {
        KIND_TAG: KIND,
        "spendlens.tenant": result.tenant,
        "spendlens.taxonomy": result.taxonomy,
        "spendlens.champion_model": champion.name,
        "spendlens.champion_version": champion.version,
        "spendlens.monitor.status": str(result.status),
        "spendlens.monitor.retrain": str(result.retrain).lower(),
        "spendlens.monitor.reason": result.decision.reason[:5000],
    }
    stamp = result.window.end.strftime("%Y%m%dT%H%M%SZ")
    run = client.create_run(experiment_id, run_name=f"monitor-{stamp}", tags=tags)
    run_id: str = run.info.run_id
    try:
        millis = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[
                Metric(key, value, millis, 0)
                for key, value in _metrics(result).items()
                if math.isfinite(value)
            ],
        )
        client.log_artifact(run_id, str(json_path), ARTIFACT_DIR)
        if html_path is not None:
            client.log_artifact(run_id, str(html_path), ARTIFACT_DIR)
    except Exception:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id)
    return run_id
