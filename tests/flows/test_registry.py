"""The deployments `spendlens flows serve` registers: every flow, two on schedules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flows.registry import FLOWS, build_deployments, deployment_specs
from spendlens.settings import Settings


def test_monitor_is_hourly_retrain_nightly_and_every_other_flow_on_demand(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    specs = {spec.flow: spec for spec in deployment_specs(settings)}

    assert set(specs) == set(FLOWS)
    assert {"monitor", "retrain", "backfill", "train", "promote", "build_features"} <= set(specs)
    assert specs["monitor"].interval_seconds == 3600
    assert specs["retrain"].cron == "0 2 * * *"
    on_demand = {name for name, spec in specs.items() if spec.schedule == "on demand"}
    assert on_demand == set(FLOWS) - {"monitor", "retrain"}


def test_schedules_and_default_parameters_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, monitor_schedule_seconds=600, retrain_cron="30 3 * * *")

    deployments = {d.flow_name: d for d in build_deployments(settings, "acme", "mine")}

    [monitor] = deployments["monitor"].schedules
    assert monitor.schedule.interval == dt.timedelta(seconds=600)
    [retrain] = deployments["retrain"].schedules
    assert retrain.schedule.cron == "30 3 * * *"
    assert deployments["backfill"].schedules == []
    assert deployments["retrain"].parameters == {"tenant": "acme", "taxonomy": "mine"}
    assert all(d.parameters["tenant"] == "acme" for d in deployments.values())


def test_deployments_load_flows_by_module_path(tmp_path: Path) -> None:
    # A file path would put flows/ on sys.path, where flows/training.py shadows `training`.
    deployments = build_deployments(Settings(state_dir=tmp_path), "acme", "default")
    assert {d.entrypoint for d in deployments} >= {"flows.loop.monitor_flow"}
    assert all(d.entrypoint.startswith("flows.") and ":" not in d.entrypoint for d in deployments)
