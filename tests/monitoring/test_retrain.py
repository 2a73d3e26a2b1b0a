"""The nightly retrain asks the newest monitoring run of the serving champion."""

from __future__ import annotations

import datetime as dt

from monitoring.retrain import retrain_request
from monitoring.store import MonitorRunRecord


def run(version: str, *, retrain: bool, taxonomy: str = "default", n: int = 0) -> MonitorRunRecord:
    return MonitorRunRecord(
        id=f"run-{version}-{n}",
        tenant_id="acme",
        taxonomy=taxonomy,
        created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC) - dt.timedelta(hours=n),
        model_name="spendlens-acme-default",
        model_version=version,
        summary={},
        retrain=retrain,
        reason="drift share 0.8 > 0.5" if retrain else "no trigger fired",
        report_path=None,
        mlflow_run_id=None,
    )


def test_no_champion_always_asks_for_training() -> None:
    assert retrain_request([], "default", None).retrain


def test_newest_run_of_the_champion_asking_for_retraining_is_obeyed() -> None:
    request = retrain_request(
        [run("3", retrain=True), run("3", retrain=False, n=1)], "default", "3"
    )
    assert request.retrain
    assert request.reason == "drift share 0.8 > 0.5"
    assert request.monitor_run_id == "run-3-0"


def test_an_older_request_is_settled_by_a_newer_quiet_run() -> None:
    request = retrain_request(
        [run("3", retrain=False), run("3", retrain=True, n=1)], "default", "3"
    )
    assert not request.retrain
    assert "did not ask" in request.reason


def test_a_request_about_a_previous_champion_is_settled_by_the_promotion() -> None:
    request = retrain_request([run("3", retrain=True)], "default", "4")
    assert not request.retrain
    assert "version 4" in request.reason


def test_runs_of_another_taxonomy_do_not_count() -> None:
    runs = [run("3", retrain=True, taxonomy="mine"), run("3", retrain=False, n=1)]
    assert not retrain_request(runs, "default", "3").retrain


def test_no_monitoring_run_means_no_retrain() -> None:
    request = retrain_request([], "default", "3")
    assert not request.retrain
    assert request.reason == "no monitoring run yet"
