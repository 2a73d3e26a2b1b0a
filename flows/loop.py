"""Prefect flows that close the loop: `monitor` (drift and accuracy, decide) and `retrain`
(assemble labels and feedback, build features, train, gate, promote).

They only orchestrate library functions (monitoring.job, monitoring.retrain, spendlens.frames,
features.store, training.pipeline, training.registry). A running service picks a promoted
champion up by itself (serving.reload), so nothing here talks to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task

from flows.training import (
    IO_RETRIES,
    IO_RETRY_DELAY_S,
    promote_challenger,
    transient,
    write_features,
)
from spendlens.frames import Frames, corrected_decisions, load_frames, with_feedback
from spendlens.settings import Settings
from spendlens.storage.db import engine_from_settings, migrate, session_factory

if TYPE_CHECKING:
    from monitoring.job import MonitorResult
    from monitoring.retrain import RetrainRequest
    from training.pipeline import TrainResult


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, retry_condition_fn=transient)
def monitor_task(
    settings: Settings, tenant: str, taxonomy: str, hours: float | None
) -> MonitorResult:
    """Drift and accuracy of the champion's recent decisions, the retrain decision, reports."""
    from monitoring.job import run_monitor  # noqa: PLC0415

    engine = engine_from_settings(settings)
    migrate(engine)
    return run_monitor(settings, session_factory(engine), tenant, taxonomy, hours=hours)


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, retry_condition_fn=transient)
def retrain_request_task(settings: Settings, tenant: str, taxonomy: str) -> RetrainRequest:
    """Whether the newest monitoring run of the current champion asked for retraining."""
    from monitoring.reference import find_champion  # noqa: PLC0415
    from monitoring.retrain import retrain_request  # noqa: PLC0415
    from monitoring.store import list_monitor_runs  # noqa: PLC0415

    engine = engine_from_settings(settings)
    migrate(engine)
    champion = find_champion(settings, tenant, taxonomy)
    runs = list_monitor_runs(session_factory(engine), tenant)
    return retrain_request(runs, taxonomy, champion.version if champion else None)


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, retry_condition_fn=transient)
def training_data(settings: Settings, tenant: str, taxonomy: str) -> Frames:
    """Stored transactions and labels plus corrections of decisions about unstored ones."""
    engine = engine_from_settings(settings)
    migrate(engine)
    with session_factory(engine)() as session:
        stored = load_frames(session, tenant, taxonomy)
        return with_feedback(stored, corrected_decisions(session, tenant))


@task
def train_with_feedback(
    settings: Settings, frames: Frames, tenant: str, taxonomy: str
) -> TrainResult:
    """Train and log every candidate on labels plus feedback; the best becomes challenger."""
    from training.pipeline import train  # noqa: PLC0415

    return train(settings, frames, tenant, taxonomy, source="db+feedback")


@flow(name="monitor")
def monitor_flow(
    tenant: str = "default", taxonomy: str = "default", hours: float | None = None
) -> dict[str, Any]:
    """Compare recent decisions with the champion's training snapshot; decide on retraining."""
    settings = Settings()
    result = monitor_task(settings, tenant, taxonomy, hours)
    get_run_logger().info(
        "monitor %s/%s: %s; retrain=%s (%s)",
        tenant,
        taxonomy,
        result.status,
        result.decision.retrain,
        result.decision.reason,
    )
    return result.as_dict()


@flow(name="retrain")
def retrain_flow(
    tenant: str = "default", taxonomy: str = "default", force: bool = False
) -> dict[str, Any]:
    """Retrain when the newest monitoring run asked (or `force`): features, candidates, gate."""
    from training.registry import model_name  # noqa: PLC0415

    settings = Settings()
    logger = get_run_logger()
    request = retrain_request_task(settings, tenant, taxonomy)
    if not (force or request.retrain):
        logger.info("no retrain for %s/%s: %s", tenant, taxonomy, request.reason)
        return {"retrained": False, "reason": request.reason}
    reason = "forced by the operator" if force and not request.retrain else request.reason
    logger.info("retraining %s/%s: %s", tenant, taxonomy, reason)
    frames = training_data(settings, tenant, taxonomy)
    built = write_features(settings, frames, tenant, taxonomy)
    logger.info("features built for %s/%s: %s", tenant, taxonomy, built)
    trained = train_with_feedback(settings, frames, tenant, taxonomy)
    promotion = promote_challenger(settings, model_name(settings, tenant, taxonomy), False)
    logger.info("%s", promotion)
    return {
        "retrained": True,
        "reason": reason,
        "monitor_run_id": request.monitor_run_id,
        "model": trained.model_name,
        "challenger_version": trained.version,
        "promoted": promotion.promoted,
        "champion_version": promotion.champion_version,
        "gate": promotion.decision.summary,
        "rows": len(frames.txns),
    }
