"""Prefect flows of the training loop: build features, train candidates, promote through the gate.

Flows only orchestrate library functions (features.store, training.pipeline, training.registry);
the tasks that touch the database, Feast or MLflow retry, because those are the steps that fail
for transient reasons (a locked SQLite file, a restarting server).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import Flow, flow, get_run_logger, task

from flows.backfill import backfill_flow
from spendlens.frames import Frames, load_frames
from spendlens.settings import Settings
from spendlens.storage.db import engine_from_settings, migrate, session_factory

if TYPE_CHECKING:
    from training.pipeline import TrainResult
    from training.registry import PromotionResult

IO_RETRIES, IO_RETRY_DELAY_S = 2, 3


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only failures a retry can fix: not a user's mistake (a missing model, bad data)."""
    from training.pipeline import TrainingDataError  # noqa: PLC0415
    from training.registry import RegistryError  # noqa: PLC0415

    error = state.result(raise_on_failure=False)
    return not isinstance(error, RegistryError | TrainingDataError | ValueError)


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, retry_condition_fn=transient)
def load_tenant_frames(settings: Settings, tenant: str, taxonomy: str) -> Frames:
    """A tenant's stored transactions and labels."""
    engine = engine_from_settings(settings)
    migrate(engine)
    with session_factory(engine)() as session:
        return load_frames(session, tenant, taxonomy)


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, retry_condition_fn=transient)
def write_features(settings: Settings, frames: Frames, tenant: str, taxonomy: str) -> Any:
    """Compute features, write the offline store, apply the definitions and materialize."""
    from features.store import build_features  # noqa: PLC0415

    return build_features(settings, frames.txns, frames.labels, tenant, taxonomy)


@task
def train_candidates(settings: Settings, frames: Frames, tenant: str, taxonomy: str) -> TrainResult:
    """Train and log every candidate; the best becomes `challenger`."""
    from training.pipeline import train  # noqa: PLC0415

    return train(settings, frames, tenant, taxonomy, source="db")


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S, retry_condition_fn=transient)
def promote_challenger(settings: Settings, name: str, force: bool) -> PromotionResult:
    """Gate the challenger against the champion and move `champion` if it passes."""
    from training.registry import promote  # noqa: PLC0415

    return promote(settings, name, force=force)


@flow(name="build_features")
def build_features_flow(tenant: str = "default", taxonomy: str = "default") -> dict[str, Any]:
    """Compute a tenant's features, write the offline store, apply and materialize online."""
    settings = Settings()
    frames = load_tenant_frames(settings, tenant, taxonomy)
    built = write_features(settings, frames, tenant, taxonomy)
    get_run_logger().info("features built for %s/%s: %s", tenant, taxonomy, built)
    return {"tenant": tenant, "taxonomy": taxonomy, "transactions": len(frames.txns)}


@flow(name="train")
def train_flow(tenant: str = "default", taxonomy: str = "default") -> dict[str, Any]:
    """Train candidates on a tenant's labels, track them in MLflow, register a challenger."""
    settings = Settings()
    frames = load_tenant_frames(settings, tenant, taxonomy)
    result = train_candidates(settings, frames, tenant, taxonomy)
    best = result.best_result
    get_run_logger().info(
        "challenger %s v%s (%s): macro-F1 %.3f",
        result.model_name,
        result.version,
        best.name,
        best.report.macro_f1,
    )
    return {
        "model": result.model_name,
        "version": result.version,
        "best": result.best,
        "metrics": best.report.as_metrics(),
        "run_id": best.run_id,
    }


@flow(name="promote")
def promote_flow(
    tenant: str = "default", taxonomy: str = "default", force: bool = False
) -> dict[str, Any]:
    """Promote the challenger of a tenant's model through the gate."""
    from training.registry import model_name  # noqa: PLC0415

    settings = Settings()
    result = promote_challenger(settings, model_name(settings, tenant, taxonomy), force)
    get_run_logger().info("%s", result)
    return {"promoted": bool(getattr(result, "promoted", False)), "result": str(result)}


FLOWS: dict[str, Flow[..., dict[str, Any]]] = {
    "build_features": build_features_flow,
    "train": train_flow,
    "promote": promote_flow,
    "backfill": backfill_flow,
}
