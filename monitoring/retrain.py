"""Whether the nightly retrain should run: the newest monitoring run of the serving champion
asked for it (or there is no champion yet)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitoring.store import MonitorRunRecord


@dataclass(frozen=True)
class RetrainRequest:
    """The answer and why; `monitor_run_id` is the run that asked, if any."""

    retrain: bool
    reason: str
    monitor_run_id: str | None = None


def retrain_request(
    runs: Sequence[MonitorRunRecord], taxonomy: str, champion_version: str | None
) -> RetrainRequest:
    """Decide from the tenant's monitoring runs (newest first).

    Only a run that watched the current champion counts: once a retrain moved `champion`,
    the request that caused it is settled and the next monitoring run decides afresh.
    """
    if champion_version is None:
        return RetrainRequest(True, "there is no champion yet")
    for run in runs:
        if run.taxonomy != taxonomy:
            continue
        if run.model_version != champion_version:
            return RetrainRequest(
                False,
                f"no monitoring run has watched champion version {champion_version} yet "
                f"(the newest watched version {run.model_version})",
            )
        if run.retrain:
            return RetrainRequest(True, run.reason, run.id)
        return RetrainRequest(False, f"the newest monitoring run did not ask: {run.reason}", run.id)
    return RetrainRequest(False, "no monitoring run yet")
