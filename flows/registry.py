"""Every flow by name, and the deployments `spendlens flows serve` registers.

Schedules come from settings: `monitor` every `monitor_schedule_seconds` (hourly), `retrain`
on `retrain_cron` (nightly; it only trains when the newest monitoring run asked), the others on
demand. An operator triggers any of them from the Prefect dashboard with parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import Flow
from prefect.types.entrypoint import EntrypointType

from flows.loop import monitor_flow, retrain_flow
from flows.training import FLOWS as TRAINING_FLOWS
from spendlens.settings import Settings

FLOWS: dict[str, Flow[..., dict[str, Any]]] = {
    **TRAINING_FLOWS,
    "monitor": monitor_flow,
    "retrain": retrain_flow,
}


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment: which flow, its schedule (none: on demand) and default parameters."""

    flow: str
    name: str
    interval_seconds: int | None = None
    cron: str | None = None

    @property
    def schedule(self) -> str:
        """The schedule in words."""
        if self.interval_seconds is not None:
            return f"every {self.interval_seconds} s"
        if self.cron is not None:
            return f"cron {self.cron!r} (UTC)"
        return "on demand"


def deployment_specs(settings: Settings) -> list[DeploymentSpec]:
    """The deployments of every flow, scheduled ones first."""
    scheduled = [
        DeploymentSpec("monitor", "hourly", interval_seconds=settings.monitor_schedule_seconds),
        DeploymentSpec("retrain", "nightly", cron=settings.retrain_cron),
    ]
    on_demand = [
        DeploymentSpec(name, "on-demand") for name in FLOWS if name not in {"monitor", "retrain"}
    ]
    return scheduled + on_demand


def build_deployments(settings: Settings, tenant: str, taxonomy: str) -> list[Any]:
    """Prefect RunnerDeployments of `deployment_specs`, with tenant and taxonomy defaults."""
    deployments = []
    for spec in deployment_specs(settings):
        flow = FLOWS[spec.flow]
        parameters = {"tenant": tenant}
        if "taxonomy" in flow.parameters.properties:
            parameters["taxonomy"] = taxonomy
        deployments.append(
            flow.to_deployment(
                name=spec.name,
                interval=spec.interval_seconds,
                cron=spec.cron,
                parameters=parameters,
                description=f"{flow.description or spec.flow} Schedule: {spec.schedule}.",
                tags=["spendlens", tenant],
                # By module path: a file path would put flows/ on sys.path, where
                # flows/training.py would shadow the `training` package.
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return deployments
